variable "name" {
  description = "Name prefix (function `<name>-gateway`, API `<name>`)."
  type        = string
}

variable "zip_path" {
  description = "Gateway deployment package (dist/gateway.zip from `make package`)."
  type        = string
}

variable "handler" {
  description = "Mangum handler of the FastAPI app."
  type        = string
  default     = "lambdas.gateway.handler.handler"
}

variable "environment" {
  description = "EB_* settings shared by every component; the module adds EB_GATEWAY_API_KEYS_SECRET_ARN."
  type        = map(string)
}

variable "policy_json" {
  description = "IAM policy for the data path (MSK write to the gateway's topics, Glue registry read)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the function."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the function."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key for the API-key secret, log groups and Lambda environment."
  type        = string
}

variable "api_keys" {
  description = "Client API keys stored in the secret (JSON list). Empty = one key generated on first apply; read it with `aws secretsmanager get-secret-value`."
  type        = list(string)
  default     = []
  sensitive   = true
}

variable "account_id" {
  description = "AWS account ID (scopes the function's ENI permissions)."
  type        = string
}

variable "key_rotation" {
  description = "Bump to replace the generated API key (used when `api_keys` is empty)."
  type        = number
  default     = 0
}

variable "memory_size" {
  description = "Function memory (MB)."
  type        = number
  default     = 512
}

variable "timeout" {
  description = "Function timeout (s); API Gateway HTTP APIs cap integrations at 30 s."
  type        = number
  default     = 29
  validation {
    condition     = var.timeout >= 3 && var.timeout <= 30
    error_message = "timeout must be 3-30 s (HTTP API integration limit)."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrency of the function (null = none; see the root's lambda_reserved_concurrency)."
  type        = number
  default     = null
}

variable "throttling_rate_limit" {
  description = "Stage steady-state request rate limit (requests/s)."
  type        = number
  default     = 500
}

variable "throttling_burst_limit" {
  description = "Stage burst limit (requests)."
  type        = number
  default     = 1000
}

variable "log_retention_days" {
  description = "Retention of the function and access log groups."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "authorizer_cache_seconds" {
  description = "How long API Gateway caches an x-api-key's verdict (0-3600). A rotated-out key keeps working this long."
  type        = number
  default     = 300
  validation {
    condition     = var.authorizer_cache_seconds >= 0 && var.authorizer_cache_seconds <= 3600
    error_message = "authorizer_cache_seconds must be between 0 and 3600."
  }
}
