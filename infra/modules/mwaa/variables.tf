variable "name" {
  description = "Environment name."
  type        = string
  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9_-]{0,79}$", var.name))
    error_message = "name must start with a letter and be at most 80 letters, digits, '-' or '_'."
  }
}

variable "account_id" {
  description = "AWS account ID (scopes the environment, log group and queue ARNs in the execution role)."
  type        = string
}

variable "airflow_version" {
  description = "Airflow version; the newest MWAA runs (Airflow 3 on Python 3.12)."
  type        = string
  default     = "3.2.1"
  validation {
    condition     = can(regex("^[23]\\.[0-9]+\\.[0-9]+$", var.airflow_version))
    error_message = "airflow_version must look like 3.2.1."
  }
}

variable "environment_class" {
  description = "Environment size."
  type        = string
  default     = "mw1.small"
  validation {
    condition     = contains(["mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge"], var.environment_class)
    error_message = "environment_class must be an MWAA class such as mw1.small."
  }
}

variable "min_workers" {
  description = "Minimum workers."
  type        = number
  default     = 1
}

variable "max_workers" {
  description = "Maximum workers."
  type        = number
  default     = 2
}

variable "webserver_access_mode" {
  description = "PRIVATE_ONLY (UI reachable from the VPC only) or PUBLIC_ONLY (still IAM-authenticated)."
  type        = string
  default     = "PRIVATE_ONLY"
  validation {
    condition     = contains(["PRIVATE_ONLY", "PUBLIC_ONLY"], var.webserver_access_mode)
    error_message = "webserver_access_mode must be PRIVATE_ONLY or PUBLIC_ONLY."
  }
}

variable "bucket_name" {
  description = "MWAA source bucket (name must start with airflow-)."
  type        = string
}

variable "bucket_arn" {
  description = "ARN of the MWAA source bucket."
  type        = string
}

variable "dags_dir" {
  description = "Local directory uploaded to dags/ (dist/mwaa/dags from `make package`: DAGs + eventbus + catalog)."
  type        = string
}

variable "requirements_path" {
  description = "Local requirements.txt uploaded for the workers (dist/mwaa/requirements.txt)."
  type        = string
}

variable "environment" {
  description = "EB_* settings exported to every Airflow process by the startup script."
  type        = map(string)
}

variable "subnet_ids" {
  description = "Two private subnets in different AZs."
  type        = list(string)
  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "MWAA needs two private subnets."
  }
}

variable "security_group_ids" {
  description = "Security groups (one must allow all traffic within itself)."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key of the environment and its logs."
  type        = string
}

variable "app_policy_json" {
  description = "IAM policy for what the DAGs do (MSK write, registry, their DB secret, the lake's raw zone)."
  type        = string
}

variable "log_level" {
  description = "Level of every MWAA log stream."
  type        = string
  default     = "INFO"
  validation {
    condition     = contains(["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"], var.log_level)
    error_message = "log_level must be CRITICAL, ERROR, WARNING, INFO or DEBUG."
  }
}

variable "log_retention_days" {
  description = "Retention of the Airflow log groups (created before the environment so MWAA writes into them)."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "raw_zone" {
  description = "The lake prefix the DAGs replace per data interval (a rerun lists and deletes an interval's earlier objects there, nothing else): bucket ARN and prefix."
  type        = object({ bucket_arn = string, prefix = string })
  default     = null
  validation {
    condition     = var.raw_zone == null || can(regex("^[a-z0-9][a-z0-9/_-]*[a-z0-9]$", var.raw_zone.prefix))
    error_message = "raw_zone.prefix is a key prefix without leading or trailing slash, e.g. raw/external."
  }
}

variable "dag_secrets" {
  description = "Secrets the DAG sources declare (auth.secret in mwaa_dags/config/sources.yaml), created empty as <name>/dags/<secret>; put their values with `aws secretsmanager put-secret-value`."
  type        = list(string)
  default     = ["bluesky-app-password"]
}

variable "alert_namespace" {
  description = "CloudWatch namespace of the DAGs' failure metric (DagRunFailed, put by their failure callback)."
  type        = string
  default     = "TravelDataSources/DAGs"
}

variable "alarm_actions" {
  description = "ARNs notified when a DAG task fails for good (e.g. an SNS topic); empty = the alarm only shows in CloudWatch."
  type        = list(string)
  default     = []
}
