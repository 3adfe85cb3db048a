# ---------------------------------------------------------------------------------------------
# Example: just the CDC source — Aurora PostgreSQL Serverless v2 with logical replication, the
# RDS-managed master secret and the replication-role secret — in its own VPC. Point a CDC relay
# (`python -m lambdas.cdc`) at it with EB_PG_HOST + EB_PG_SECRET_ARN from the outputs.
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
  azs        = var.azs != null ? var.azs : slice(data.aws_availability_zones.available[0].names, 0, 2)
  tags       = { Project = "travel-data-sources", Example = "aurora-cdc", ManagedBy = "terraform" }
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
  interface_endpoints = ["secretsmanager"]
  kms_key_arn         = module.kms.key_arn
  client_security_groups = {
    cdc_relay = { postgres = true }
  }
  tags = local.tags
}

module "aurora" {
  source             = "../../modules/aurora"
  name               = "${var.name}-oltp"
  account_id         = local.account_id
  subnet_ids         = module.network.private_subnet_ids
  security_group_ids = [module.network.aurora_security_group_id]
  kms_key_arn        = module.kms.key_arn
  # Protected like production; set deletion_protection = false and apply before destroying.
  deletion_protection = true
  tags                = local.tags
}
