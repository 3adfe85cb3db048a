variable "name" {
  description = "Name prefix of the cluster, services, functions and repository."
  type        = string
}

variable "account_id" {
  description = "AWS account ID (aws:SourceAccount of the service trust policies)."
  type        = string
  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}

variable "subnet_ids" {
  description = "Private subnets of the tasks and functions."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security group per workload: bootstrap, simulators, cdc_relay."
  type        = map(string)
  validation {
    condition     = alltrue([for k in ["bootstrap", "simulators", "cdc_relay"] : contains(keys(var.security_group_ids), k)])
    error_message = "security_group_ids needs keys bootstrap, simulators and cdc_relay."
  }
}

variable "kms_key_arn" {
  description = "KMS key for the repository, log groups, Lambda environments and the schedule."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of every log group in this module."
  type        = number
  default     = 365
}

# --- container image ---------------------------------------------------------------------------
variable "container_image" {
  description = "Image for the simulators and CDC relay tasks. null = `<this module's ECR repo>:<image_tag>` (see infra/docker/Dockerfile)."
  type        = string
  default     = null
}

variable "image_tag" {
  description = "Tag pushed to the ECR repository (tags are immutable: one per build; `make deploy` pushes the image and passes its tag). Required unless `container_image` is set."
  type        = string
  default     = null
}

variable "force_delete" {
  description = "Let `terraform destroy` delete the ECR repository with its images."
  type        = bool
  default     = false
}

variable "reserved_concurrency" {
  description = "Reserved concurrency of the bootstrap and burst Lambdas (null = none)."
  type        = object({ bootstrap = optional(number), burst = optional(number) })
  default     = {}
}

# --- simulators (Fargate, long-running) --------------------------------------------------------
variable "simulators_scenario" {
  description = "Scenario the long-running simulators run (`python -m lambdas.simulators run --scenario ...`)."
  type        = string
  default     = "default"
}

variable "simulators_desired_count" {
  description = "Running simulator tasks (0 = off)."
  type        = number
  default     = 1
  validation {
    condition     = var.simulators_desired_count >= 0 && var.simulators_desired_count <= 20
    error_message = "simulators_desired_count must be between 0 and 20."
  }
}

variable "simulators_cpu" {
  description = "Fargate CPU units of a simulator task."
  type        = number
  default     = 512
}

variable "simulators_memory" {
  description = "Fargate memory (MiB) of a simulator task."
  type        = number
  default     = 1024
}

variable "simulators_environment" {
  description = "Environment of the simulator task and the burst Lambda (EB_* settings)."
  type        = map(string)
}

variable "simulators_policy_json" {
  description = "IAM policy of the simulators (MSK write, secrets, registry)."
  type        = string
}

# --- CDC relay (Fargate, exactly one) -----------------------------------------------------------
variable "cdc_enabled" {
  description = "Run the CDC relay service (one task: a replication slot has a single reader)."
  type        = bool
  default     = true
}

variable "cdc_cpu" {
  description = "Fargate CPU units of the CDC relay task."
  type        = number
  default     = 512
}

variable "cdc_memory" {
  description = "Fargate memory (MiB) of the CDC relay task."
  type        = number
  default     = 1024
}

variable "cdc_environment" {
  description = "Environment of the CDC relay (EB_* settings; EB_PG_SECRET_ARN = replication secret)."
  type        = map(string)
}

variable "cdc_policy_json" {
  description = "IAM policy of the CDC relay."
  type        = string
}

# --- bootstrap Lambda (topics + schemas + DB roles), invoked on apply ---------------------------
variable "bootstrap_zip_path" {
  description = "dist/bootstrap.zip from `make package`."
  type        = string
}

variable "bootstrap_handler" {
  description = "Bootstrap handler."
  type        = string
  default     = "lambdas.bootstrap.handler.handler"
}

variable "bootstrap_environment" {
  description = "Environment of the bootstrap Lambda."
  type        = map(string)
}

variable "bootstrap_policy_json" {
  description = "IAM policy of the bootstrap Lambda (topic admin, registry write, DB secrets)."
  type        = string
}

variable "bootstrap_invoke" {
  description = "Invoke the bootstrap Lambda during apply (whenever `bootstrap_triggers` change)."
  type        = bool
  default     = true
}

variable "bootstrap_triggers" {
  description = "Values whose change re-invokes the bootstrap (catalog/schema hashes, cluster ids)."
  type        = map(string)
  default     = {}
}

# --- simulator bursts (Lambda on an EventBridge Scheduler schedule) ------------------------------
variable "simulators_zip_path" {
  description = "dist/simulators.zip from `make package`."
  type        = string
}

variable "burst_handler" {
  description = "Handler of the scheduled simulator burst."
  type        = string
  default     = "lambdas.simulators.handler.handler"
}

variable "burst_schedule" {
  description = "Schedule expression of the bursts (rate(), cron() or at())."
  type        = string
  default     = "rate(15 minutes)"
  validation {
    condition     = can(regex("^(rate|cron|at)\\(.+\\)$", var.burst_schedule))
    error_message = "burst_schedule must be rate(...), cron(...) or at(...)."
  }
}

variable "burst_enabled" {
  description = "Whether the burst schedule is ENABLED."
  type        = bool
  default     = true
}

variable "burst_input" {
  description = "Event passed to the burst handler."
  type        = any
  default     = { scenario = "burst", duration_s = 60 }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
