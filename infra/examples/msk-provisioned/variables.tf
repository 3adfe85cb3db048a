variable "name" {
  description = "Name prefix."
  type        = string
  default     = "travel-msk"
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
}

variable "account_id" {
  description = "AWS account ID (null = looked up)."
  type        = string
  default     = null
}

variable "azs" {
  description = "Availability zones (null = the first three of the region)."
  type        = list(string)
  default     = null
}

variable "kafka_version" {
  description = "Kafka version."
  type        = string
  default     = "4.0.x.kraft"
}
