# ---------------------------------------------------------------------------------------------
# Example: a provisioned MSK cluster (Kafka 4.0, TLS + IAM, KMS at rest) in a private-only VPC,
# for workloads whose throughput or topic configs exceed MSK Serverless' limits.
#   terraform init && terraform apply -var account_id=... (or omit it to look it up)
# ---------------------------------------------------------------------------------------------
data "aws_caller_identity" "current" {
  count = var.account_id == null ? 1 : 0
}

data "aws_availability_zones" "available" {
  count = var.azs == null ? 1 : 0
  state = "available"
}

locals {
  account_id = var.account_id != null ? var.account_id : data.aws_caller_identity.current[0].account_id
  azs        = var.azs != null ? var.azs : slice(data.aws_availability_zones.available[0].names, 0, 3)
  tags       = { Project = "travel-data-sources", Example = "msk-provisioned", ManagedBy = "terraform" }
}

module "kms" {
  source     = "../../modules/kms"
  name       = var.name
  account_id = local.account_id
  region     = var.region
  tags       = local.tags
}

module "network" {
  source              = "../../modules/network"
  account_id          = local.account_id
  name                = var.name
  azs                 = local.azs
  enable_nat_gateway  = false
  interface_endpoints = ["sts", "logs"]
  kms_key_arn         = module.kms.key_arn
  client_security_groups = {
    producers = {}
  }
  tags = local.tags
}

module "msk" {
  source             = "../../modules/msk"
  name               = var.name
  serverless         = false
  kafka_version      = var.kafka_version
  broker_count       = length(local.azs)
  subnet_ids         = module.network.private_subnet_ids
  security_group_ids = [module.network.msk_security_group_id]
  kms_key_arn        = module.kms.key_arn
  tags               = local.tags
}
