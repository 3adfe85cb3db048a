variable "function_name" {
  description = "Lambda function name."
  type        = string
  validation {
    condition     = can(regex("^[a-zA-Z0-9-_]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 chars of letters, digits, '-' and '_'."
  }
}

variable "description" {
  description = "Function description."
  type        = string
  default     = ""
}

variable "zip_path" {
  description = "Deployment package built by `make package` (e.g. dist/gateway.zip)."
  type        = string
}

variable "handler" {
  description = "Handler as module.function, e.g. lambdas.gateway.handler.handler."
  type        = string
}

variable "runtime" {
  description = "Python runtime; `make package` builds wheels for this version."
  type        = string
  default     = "python3.12"
  validation {
    condition     = can(regex("^python3\\.1[0-9]$", var.runtime))
    error_message = "runtime must be a python3.1x Lambda runtime."
  }
}

variable "memory_size" {
  description = "Memory in MB."
  type        = number
  default     = 512
}

variable "timeout" {
  description = "Timeout in seconds."
  type        = number
  default     = 30
  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900
    error_message = "timeout must be between 1 and 900 seconds."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions (caps cost and broker connections). null = none: Lambda lets an account reserve only down to 100 unreserved, so any reservation fails in a new account (quota 10)."
  type        = number
  default     = null
  validation {
    condition     = var.reserved_concurrency == null || try(var.reserved_concurrency >= 0, false)
    error_message = "reserved_concurrency must be null (no reservation) or >= 0."
  }
}

variable "environment" {
  description = "Environment variables (EB_* settings)."
  type        = map(string)
  default     = {}
}

variable "account_id" {
  description = "AWS account ID (the function's ENI permissions are scoped to this account's network interfaces)."
  type        = string
  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}

variable "subnet_ids" {
  description = "Private subnets the function runs in."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the function."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key for the environment variables and the log group."
  type        = string
}

variable "policy_json" {
  description = "Inline IAM policy with what the code needs beyond its logs, VPC ENIs and X-Ray (which this module adds, scoped)."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the function's log group."
  type        = number
  default     = 365
}

variable "log_level" {
  description = "Application log level Lambda filters on (JSON logs)."
  type        = string
  default     = "INFO"
  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.log_level)
    error_message = "log_level must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
