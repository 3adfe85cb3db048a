variable "name" {
  description = "Name prefix."
  type        = string
  default     = "travel-cdc"
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
  description = "Availability zones (null = the first two of the region)."
  type        = list(string)
  default     = null
}
