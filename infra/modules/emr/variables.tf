variable "name" {
  description = "Application name."
  type        = string
}

variable "release_label" {
  description = "EMR release. Streaming job runs need emr-7.1.0+; emr-7.10.0 ships Spark 3.5.5 (emr_jobs/ targets Spark 3.5)."
  type        = string
  default     = "emr-7.10.0"
  validation {
    condition     = can(regex("^emr-7\\.([1-9]|[1-9][0-9])\\.[0-9]+$", var.release_label))
    error_message = "release_label must be emr-7.1.0 or newer (streaming job runs)."
  }
}

variable "subnet_ids" {
  description = "Private subnets of the Spark workers (they reach MSK and S3 from the VPC)."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the Spark workers."
  type        = list(string)
}

variable "max_cpu" {
  description = "Maximum total vCPU of the application (caps cost)."
  type        = string
  default     = "16 vCPU"
}

variable "max_memory" {
  description = "Maximum total memory of the application."
  type        = string
  default     = "64 GB"
}

variable "idle_timeout_minutes" {
  description = "Stop the application after this many idle minutes."
  type        = number
  default     = 15
}

variable "image_uri" {
  description = "Optional custom image (e.g. with the job's Python deps baked in); null = the release's default image."
  type        = string
  default     = null
}

variable "artifacts_bucket_arn" {
  description = "Bucket holding the job code (read-only for the job)."
  type        = string
}

variable "lake_bucket_arn" {
  description = "Lake bucket: the jobs read, write and delete only under `lake_write_prefix` (the `raw/` zone is out of their reach)."
  type        = string
}

variable "lake_write_prefix" {
  description = "The lake zone the jobs write (the storage module's `lake_zones.processed`, e.g. `processed/`)."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9_-]+/$", var.lake_write_prefix))
    error_message = "lake_write_prefix must be one path segment ending in '/', e.g. processed/."
  }
}

variable "checkpoint_bucket_arn" {
  description = "Checkpoint bucket (read/write/delete: Spark rewrites and cleans its checkpoints)."
  type        = string
}

variable "account_id" {
  description = "AWS account ID (aws:SourceAccount of the job role's trust policy)."
  type        = string
}

variable "entry_points" {
  description = "Job entry points uploaded beside pyfiles.zip (from `make package`'s dist/emr/entrypoints.json). Empty = the application is refused (a Spark application with no jobs to run)."
  type        = list(string)
}

variable "kafka_policy_json" {
  description = "IAM policy for MSK (read source topics, write processed/state topics) and the Glue registry."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the buckets and the log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the job-run log group."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
