variable "name" {
  description = "Name prefix; buckets get `<name>-<purpose>-` prefixes plus an AWS-generated suffix (globally unique names without an account lookup)."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.name))
    error_message = "name must be 2-16 chars of lower-case letters, digits and '-' (bucket prefixes are limited to 37 chars)."
  }
}

variable "kms_key_arn" {
  description = "KMS key for SSE-KMS on every data bucket."
  type        = string
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete non-empty buckets (dev/demo accounts only)."
  type        = bool
  default     = false
}

variable "lake_raw_transition_days" {
  description = "Days before objects under raw/ in the lake move to STANDARD_IA."
  type        = number
  default     = 30
  validation {
    condition     = var.lake_raw_transition_days >= 30
    error_message = "S3 requires at least 30 days before a STANDARD_IA transition."
  }
}

variable "lake_processed_transition_days" {
  description = "Days before objects under processed/ in the lake move to STANDARD_IA."
  type        = number
  default     = 90
  validation {
    condition     = var.lake_processed_transition_days >= 30
    error_message = "S3 requires at least 30 days before a STANDARD_IA transition."
  }
}

variable "lake_glacier_days" {
  description = "Days before lake objects move to GLACIER_IR (null = never)."
  type        = number
  default     = 365
}

variable "noncurrent_version_expiration_days" {
  description = "Days a non-current object version is kept in every bucket."
  type        = number
  default     = 30
}

variable "checkpoint_noncurrent_days" {
  description = "Days a checkpoint file Spark deleted or overwrote is kept as a non-current version. Current checkpoint objects never expire (a RocksDB state store references old files)."
  type        = number
  default     = 3
}

variable "access_log_expiration_days" {
  description = "Days S3 server access logs are kept."
  type        = number
  default     = 90
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
