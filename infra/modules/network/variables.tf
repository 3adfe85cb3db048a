variable "name" {
  description = "Name prefix for every resource."
  type        = string
}

variable "account_id" {
  description = "AWS account ID (aws:SourceAccount of the flow-logs role's trust policy)."
  type        = string
  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}

variable "cidr" {
  description = "VPC CIDR block. Private subnets take /20s from the bottom, public /24s from the top."
  type        = string
  default     = "10.40.0.0/16"
  validation {
    condition     = can(cidrhost(var.cidr, 0)) && tonumber(split("/", var.cidr)[1]) <= 18
    error_message = "cidr must be a valid IPv4 CIDR of /18 or larger."
  }
}

variable "azs" {
  description = "Availability zones, at least two (MSK, Aurora and MWAA need two subnets in distinct AZs)."
  type        = list(string)
  validation {
    condition     = length(var.azs) >= 2 && length(var.azs) <= 4 && length(distinct(var.azs)) == length(var.azs)
    error_message = "azs must list 2 to 4 distinct availability zones."
  }
}

variable "enable_nat_gateway" {
  description = "One NAT gateway for outbound internet (external APIs for the DAGs, image pulls, Maven jars for Spark). Off = private-only (add `ecr.api`, `ecr.dkr` endpoints)."
  type        = bool
  default     = true
}

variable "interface_endpoints" {
  description = "AWS services reached through interface VPC endpoints (short names as in com.amazonaws.REGION.NAME). S3 always gets a gateway endpoint."
  type        = set(string)
  default     = ["secretsmanager", "glue", "sts", "logs"]
  validation {
    condition     = alltrue([for s in var.interface_endpoints : can(regex("^[a-z0-9.-]+$", s))])
    error_message = "interface_endpoints must be service short names like \"secretsmanager\" or \"ecr.api\"."
  }
}

variable "client_security_groups" {
  description = <<-EOT
    One security group per workload that talks to the data path. Each may reach MSK (IAM port
    9098), the interface endpoints and S3 over 443; `postgres` adds 5432 to Aurora; `internet`
    adds 443 to 0.0.0.0/0 (through the NAT gateway); `self` allows all traffic within the group
    (MWAA needs it).
  EOT
  type = map(object({
    postgres = optional(bool, false)
    internet = optional(bool, false)
    self     = optional(bool, false)
  }))
  default = {
    gateway    = {}
    bootstrap  = { postgres = true }
    simulators = { postgres = true, internet = true }
    cdc_relay  = { postgres = true, internet = true }
    emr        = { internet = true }
    mwaa       = { postgres = true, internet = true, self = true }
  }
}

variable "kafka_port" {
  description = "Broker port clients use (9098 = SASL/IAM over TLS, for MSK Serverless and provisioned)."
  type        = number
  default     = 9098
}

variable "postgres_port" {
  description = "Aurora PostgreSQL port."
  type        = number
  default     = 5432
}

variable "flow_logs_retention_days" {
  description = "Retention of the VPC flow log group."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the flow log group."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
