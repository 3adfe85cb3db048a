variable "name" {
  description = "Cluster name."
  type        = string
  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9-]{0,63}$", var.name))
    error_message = "name must be 1-64 chars of letters, digits and '-'."
  }
}

variable "serverless" {
  description = "true = MSK Serverless (IAM auth, pay per partition-hour and GB); false = provisioned brokers."
  type        = bool
  default     = true
}

variable "subnet_ids" {
  description = "Private subnets for the cluster's ENIs (two or more AZs)."
  type        = list(string)
  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "MSK needs subnets in at least two availability zones."
  }
}

variable "security_group_ids" {
  description = "Security groups attached to the cluster."
  type        = list(string)
}

variable "kafka_version" {
  description = "Kafka version of a provisioned cluster, as MSK names it. KRaft clusters take a `.kraft` suffix (MSK developer guide, \"KRaft mode\": `3.7.x.kraft`), and Kafka 4.x exists only in KRaft mode on MSK (`4.0.x.kraft`; aws-cdk#34501 adds exactly that version)."
  type        = string
  default     = "4.0.x.kraft"
  validation {
    condition     = can(regex("^(3\\.[0-9]+\\.(x|[0-9]+)(\\.kraft)?|4\\.[0-9]+\\.(x|[0-9]+)\\.kraft)$", var.kafka_version))
    error_message = "kafka_version must be an MSK version string: 3.9.x (ZooKeeper), 3.9.x.kraft, or 4.0.x.kraft (Kafka 4 is KRaft-only)."
  }
}

variable "broker_instance_type" {
  description = "Broker instance type (provisioned only)."
  type        = string
  default     = "kafka.m7g.large"
}

variable "broker_count" {
  description = "Number of brokers (provisioned only); a multiple of the number of subnets."
  type        = number
  default     = 3
  validation {
    condition     = var.broker_count >= 2
    error_message = "broker_count must be at least 2."
  }
}

variable "broker_volume_size_gb" {
  description = "EBS volume per broker in GiB (provisioned only)."
  type        = number
  default     = 100
}

variable "server_properties" {
  description = "Extra broker properties for provisioned clusters, merged over the defaults (auto-creation off: the bootstrap creates topics from the catalog; `default.replication.factor` = min(3, broker_count) and `min.insync.replicas` = replication factor - 1, at least 1, so topic creation never asks for more replicas than brokers)."
  type        = map(string)
  default     = {}
}

variable "kms_key_arn" {
  description = "KMS key for encryption at rest and the broker log group (provisioned only; Serverless always encrypts with an AWS key)."
  type        = string
  default     = null
}

variable "log_retention_days" {
  description = "Retention of the broker log group (provisioned only)."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
