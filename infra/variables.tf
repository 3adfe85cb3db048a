# ---------------------------------------------------------------------------------------------
# Identity, placement, tags
# ---------------------------------------------------------------------------------------------
variable "name" {
  description = "Name prefix of every resource (short: it goes into bucket and role names)."
  type        = string
  default     = "travel-ds"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.name))
    error_message = "name must be 2-16 chars of lower-case letters, digits and '-', starting with a letter."
  }
}

variable "environment" {
  description = "Environment tag (dev, staging, prod)."
  type        = string
  default     = "dev"
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region code such as us-east-1."
  }
}

variable "account_id" {
  description = "AWS account ID. null = looked up with sts:GetCallerIdentity (set it to plan without AWS access)."
  type        = string
  default     = null
  validation {
    condition     = var.account_id == null || can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}

variable "azs" {
  description = "Availability zones. null = the first `az_count` available zones of the region (set it to plan without AWS access)."
  type        = list(string)
  default     = null
}

variable "az_count" {
  description = "Number of AZs used when `azs` is null."
  type        = number
  default     = 2
  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4
    error_message = "az_count must be between 2 and 4."
  }
}

variable "tags" {
  description = "Extra tags merged into every resource's tags."
  type        = map(string)
  default     = {}
}

variable "log_level" {
  description = "EB_LOG_LEVEL of every component."
  type        = string
  default     = "INFO"
  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "log_retention_days" {
  description = "Retention of every CloudWatch log group the layer creates."
  type        = number
  default     = 365
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (e.g. 7, 30, 90, 365)."
  }
}

# ---------------------------------------------------------------------------------------------
# Repository inputs (schemas, packaged artifacts)
# ---------------------------------------------------------------------------------------------
variable "catalog_path" {
  description = "Topic catalog. null = ../schemas/topics.yaml (the repository's)."
  type        = string
  default     = null
}

variable "artifacts_dir" {
  description = "Output of `make package` (gateway.zip, bootstrap.zip, simulators.zip, mwaa/, emr/). null = ../dist."
  type        = string
  default     = null
}

# ---------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------
variable "vpc_cidr" {
  description = "VPC CIDR."
  type        = string
  default     = "10.40.0.0/16"
}

variable "enable_nat_gateway" {
  description = "One NAT gateway for outbound HTTPS (external APIs, image pulls, Spark packages)."
  type        = bool
  default     = true
}

variable "interface_endpoints" {
  description = "Interface VPC endpoints (service short names). S3 always has a gateway endpoint."
  type        = set(string)
  default     = ["secretsmanager", "glue", "sts", "logs"]
}

# ---------------------------------------------------------------------------------------------
# MSK
# ---------------------------------------------------------------------------------------------
variable "msk_serverless" {
  description = "MSK Serverless (default) or a provisioned cluster."
  type        = bool
  default     = true
}

variable "msk_kafka_version" {
  description = "Kafka version of a provisioned cluster, as MSK names it (Kafka 4 is KRaft-only: `4.0.x.kraft`)."
  type        = string
  default     = "4.0.x.kraft"
}

variable "msk_broker_instance_type" {
  description = "Broker instance type of a provisioned cluster."
  type        = string
  default     = "kafka.m7g.large"
}

variable "msk_broker_count" {
  description = "Brokers of a provisioned cluster (multiple of the AZ count)."
  type        = number
  default     = 2
}

# ---------------------------------------------------------------------------------------------
# Aurora
# ---------------------------------------------------------------------------------------------
variable "aurora_engine_version" {
  description = "Aurora PostgreSQL major version. Minor versions are AWS's to apply (auto minor version upgrade in the maintenance window); pinning one would make the apply after an upgrade attempt a downgrade."
  type        = string
  default     = "16"
  validation {
    condition     = can(regex("^[0-9]+$", var.aurora_engine_version))
    error_message = "aurora_engine_version is a major version only (e.g. 16), not a minor such as 16.6."
  }
}

variable "aurora_min_capacity" {
  description = "Serverless v2 minimum ACUs."
  type        = number
  default     = 0.5
}

variable "aurora_max_capacity" {
  description = "Serverless v2 maximum ACUs."
  type        = number
  default     = 4
}

variable "aurora_instance_count" {
  description = "Aurora instances (1 = writer only)."
  type        = number
  default     = 1
}

variable "deletion_protection" {
  description = "Deletion protection on the Aurora cluster."
  type        = bool
  default     = true
}

variable "skip_final_snapshot" {
  description = "Skip Aurora's final snapshot on destroy."
  type        = bool
  default     = false
}

variable "force_destroy_buckets" {
  description = "Let `terraform destroy` empty and delete the buckets (every object version) and the ECR repository with its images (`make undeploy` sets it)."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------------------------------------
# Registry, gateway, compute
# ---------------------------------------------------------------------------------------------
variable "registry_name" {
  description = "Glue Schema Registry name (EB_REGISTRY_NAME)."
  type        = string
  default     = "travel-events"
}

variable "gateway_api_keys" {
  description = "API keys the gateway accepts. Empty = one generated key (read it from the secret)."
  type        = list(string)
  default     = []
  sensitive   = true
}

variable "secret_rotation" {
  description = "Bump to regenerate the generated secrets: the DB login-role passwords (replication, OLTP app) and the generated gateway key. The bootstrap re-applies the passwords to the roles."
  type        = number
  default     = 0
}

variable "gateway_throttling_rate_limit" {
  description = "Gateway stage steady-state rate limit (requests/s)."
  type        = number
  default     = 500
}

variable "gateway_throttling_burst_limit" {
  description = "Gateway stage burst limit."
  type        = number
  default     = 1000
}

variable "container_image" {
  description = "Image of the simulators and CDC relay tasks. null = the layer's ECR repository at `image_tag`."
  type        = string
  default     = null
}

variable "image_tag" {
  description = "Tag in the layer's ECR repository (immutable tags: one per build). `make deploy` builds and pushes the image and sets it; required unless `container_image` is set."
  type        = string
  default     = null
}

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrency per Lambda (gateway, bootstrap, burst); null = none. A reservation must leave the account 100 unreserved, so a new account (quota 10) can reserve nothing: set these only after a quota increase."
  type        = object({ gateway = optional(number), bootstrap = optional(number), burst = optional(number) })
  default     = {}
}

variable "simulators_scenario" {
  description = "Scenario of the long-running simulators."
  type        = string
  default     = "default"
}

variable "simulators_desired_count" {
  description = "Running simulator tasks."
  type        = number
  default     = 1
}

variable "cdc_enabled" {
  description = "Run the CDC relay service."
  type        = bool
  default     = true
}

variable "burst_schedule" {
  description = "Schedule of the simulator burst Lambda."
  type        = string
  default     = "rate(15 minutes)"
}

variable "burst_enabled" {
  description = "Enable the simulator burst schedule."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------------------------
# EMR Serverless, MWAA
# ---------------------------------------------------------------------------------------------
variable "emr_release_label" {
  description = "EMR Serverless release (streaming needs emr-7.1.0+)."
  type        = string
  default     = "emr-7.10.0"
}

variable "emr_max_cpu" {
  description = "EMR Serverless maximum vCPU."
  type        = string
  default     = "16 vCPU"
}

variable "emr_max_memory" {
  description = "EMR Serverless maximum memory."
  type        = string
  default     = "64 GB"
}

variable "enable_mwaa" {
  description = "Create the MWAA environment (the largest fixed cost of the layer)."
  type        = bool
  default     = true
}

variable "mwaa_airflow_version" {
  description = "Airflow version of the MWAA environment."
  type        = string
  default     = "3.2.1"
}

variable "mwaa_environment_class" {
  description = "MWAA environment class."
  type        = string
  default     = "mw1.small"
}

variable "mwaa_webserver_access_mode" {
  description = "PRIVATE_ONLY or PUBLIC_ONLY Airflow UI."
  type        = string
  default     = "PRIVATE_ONLY"
}

# ---------------------------------------------------------------------------------------------
# Observability
# ---------------------------------------------------------------------------------------------
variable "alarm_emails" {
  description = "E-mail addresses notified by the alarms."
  type        = list(string)
  default     = []
}

variable "consumer_lag_groups" {
  description = "Consumer group => topic whose lag is alarmed."
  type        = map(string)
  default     = {}
}
