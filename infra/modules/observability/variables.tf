variable "name" {
  description = "Name prefix of the alarms, topic and dashboard."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the alarm topic."
  type        = string
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the alarm topic (each must confirm)."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for e in var.alarm_emails : can(regex("^[^@\\s]+@[^@\\s]+$", e))])
    error_message = "alarm_emails must be e-mail addresses."
  }
}

variable "region" {
  description = "Region the dashboard's widgets read."
  type        = string
}

variable "api_id" {
  description = "Gateway HTTP API ID."
  type        = string
}

variable "api_stage" {
  description = "Gateway stage name."
  type        = string
  default     = "$default"
}

variable "gateway_function_name" {
  description = "Gateway Lambda name."
  type        = string
}

variable "gateway_5xx_threshold" {
  description = "Gateway 5xx responses per 5 minutes that raise the alarm (503 = broker unavailable)."
  type        = number
  default     = 5
}

variable "ecs_cluster_name" {
  description = "ECS cluster running the simulators and the CDC relay."
  type        = string
}

variable "cdc_service_name" {
  description = "ECS service of the CDC relay."
  type        = string
}

variable "cdc_enabled" {
  description = "Whether the CDC relay is expected to run (arms its alarms)."
  type        = bool
  default     = true
}

variable "cdc_log_group_name" {
  description = "Log group of the CDC relay; its `cdc status` JSON lines (every 10 s) carry lag_ms and lag_bytes."
  type        = string
}

variable "cdc_lag_ms_threshold" {
  description = "Age (ms) of the oldest change not yet acknowledged by Kafka that raises the CDC lag alarm."
  type        = number
  default     = 60000
}

variable "aurora_writer_instance_id" {
  description = "Writer instance of the Aurora cluster (replication-slot metrics are per instance)."
  type        = string
}

variable "cdc_slot_lag_bytes_threshold" {
  description = "WAL retained for replication slots (bytes) that means the CDC relay is behind or gone."
  type        = number
  default     = 1073741824 # 1 GiB
}

variable "msk_cluster_name" {
  description = "MSK cluster name (dimension `Cluster Name`)."
  type        = string
}

variable "consumer_lag_groups" {
  description = "Consumer group => topic watched for lag (MSK EstimatedMaxTimeLag, seconds)."
  type        = map(string)
  default     = {}
}

variable "consumer_lag_seconds_threshold" {
  description = "Estimated time lag (s) of a watched consumer group that raises the alarm."
  type        = number
  default     = 300
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
