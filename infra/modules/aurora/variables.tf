variable "name" {
  description = "Cluster identifier prefix."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,50}$", var.name))
    error_message = "name must start with a letter and hold only lower-case letters, digits and '-'."
  }
}

variable "engine_version" {
  description = "Aurora PostgreSQL major version (15 or 16). Only the major is pinned: AWS applies minor versions in the maintenance window (auto_minor_version_upgrade), and a pinned minor would make the next apply attempt a downgrade."
  type        = string
  default     = "16"
  validation {
    condition     = can(regex("^1[56]$", var.engine_version))
    error_message = "engine_version must be an Aurora PostgreSQL major version, 15 or 16 (not a minor such as 16.6: AWS upgrades minors itself)."
  }
}

variable "database_name" {
  description = "Database created in the cluster (EB_PG_DATABASE)."
  type        = string
  default     = "travel"
}

variable "master_username" {
  description = "Master user; its password is generated and rotated by RDS in Secrets Manager."
  type        = string
  default     = "travel_admin"
}

variable "replication_username" {
  description = "Login role the CDC relay uses (granted rds_replication by the bootstrap step)."
  type        = string
  default     = "cdc_relay"
  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.replication_username))
    error_message = "replication_username must be a plain PostgreSQL identifier."
  }
}

variable "app_username" {
  description = "Login role of the OLTP workload (the simulators): DML on the OLTP tables only, created by the bootstrap step."
  type        = string
  default     = "oltp_app"
  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.app_username))
    error_message = "app_username must be a plain PostgreSQL identifier."
  }
}

variable "dags_username" {
  description = "Login role of the DAGs on MWAA: SELECT on the tables they query (bookings) only, created by the bootstrap step."
  type        = string
  default     = "dags_reader"
  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.dags_username))
    error_message = "dags_username must be a plain PostgreSQL identifier."
  }
}

variable "password_rotation" {
  description = "Bump to give the login roles (replication, app, dags) new generated passwords; the bootstrap then sets them in the database."
  type        = number
  default     = 0
}

variable "min_capacity" {
  description = "Serverless v2 minimum ACUs."
  type        = number
  default     = 0.5
  validation {
    condition     = var.min_capacity >= 0 && var.min_capacity <= 256
    error_message = "min_capacity must be between 0 and 256 ACUs."
  }
}

variable "max_capacity" {
  description = "Serverless v2 maximum ACUs."
  type        = number
  default     = 4
  validation {
    condition     = var.max_capacity >= 1 && var.max_capacity <= 256
    error_message = "max_capacity must be between 1 and 256 ACUs."
  }
}

variable "instance_count" {
  description = "Serverless v2 instances (1 writer + readers). 2+ gives a Multi-AZ failover target."
  type        = number
  default     = 1
  validation {
    condition     = var.instance_count >= 1 && var.instance_count <= 15
    error_message = "instance_count must be between 1 and 15."
  }
}

variable "account_id" {
  description = "AWS account ID (aws:SourceAccount of the Enhanced Monitoring role's trust policy)."
  type        = string
  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}

variable "subnet_ids" {
  description = "Private subnets for the DB subnet group (two or more AZs)."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups attached to the cluster."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key for storage, the master secret, Performance Insights and the replication secret."
  type        = string
}

variable "deletion_protection" {
  description = "Block deletion of the cluster. Turn off (and apply) before `terraform destroy`."
  type        = bool
  default     = true
}

variable "skip_final_snapshot" {
  description = "Skip the final snapshot on destroy (dev accounts)."
  type        = bool
  default     = false
}

variable "backup_retention_days" {
  description = "Automated backup retention."
  type        = number
  default     = 7
  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 1 and 35."
  }
}

variable "preferred_backup_window" {
  description = "Daily backup window (UTC)."
  type        = string
  default     = "17:00-18:00"
}

variable "monitoring_interval" {
  description = "Enhanced Monitoring interval in seconds (0 = off)."
  type        = number
  default     = 60
  validation {
    condition     = contains([0, 1, 5, 10, 15, 30, 60], var.monitoring_interval)
    error_message = "monitoring_interval must be one of 0, 1, 5, 10, 15, 30, 60."
  }
}

variable "log_retention_days" {
  description = "Retention of the exported PostgreSQL log group."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
