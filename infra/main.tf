# ---------------------------------------------------------------------------------------------
# The travel data sources layer in one AWS account: network, MSK, Aurora (CDC source), Glue
# Schema Registry, buckets, the gateway, the Fargate/Lambda workloads, EMR Serverless, MWAA and
# their alarms. `make package` first (Lambda zips, DAG bundle), then `terraform apply`.
# ---------------------------------------------------------------------------------------------
data "aws_partition" "current" {}

# Only looked up when not given, so the configuration can be planned without AWS access.
data "aws_caller_identity" "current" {
  count = var.account_id == null ? 1 : 0
}

data "aws_availability_zones" "available" {
  count = var.azs == null ? 1 : 0
  state = "available"
}

locals {
  account_id = var.account_id != null ? var.account_id : data.aws_caller_identity.current[0].account_id
  azs        = var.azs != null ? var.azs : slice(data.aws_availability_zones.available[0].names, 0, var.az_count)
  partition  = data.aws_partition.current.partition

  repo_root     = "${path.module}/.."
  catalog_path  = var.catalog_path != null ? var.catalog_path : "${local.repo_root}/schemas/topics.yaml"
  artifacts_dir = var.artifacts_dir != null ? var.artifacts_dir : "${local.repo_root}/dist"
  catalog       = yamldecode(file(local.catalog_path))
  topics        = sort(keys(local.catalog.topics))

  tags = merge(var.tags, {
    Project     = "travel-data-sources"
    Layer       = "data-sources"
    Environment = var.environment
    ManagedBy   = "terraform"
  })

  # --- settings every component reads (eventbus.settings.Settings, EB_* variables) ----------
  common_env = {
    EB_PROFILE           = "aws"
    EB_AWS_REGION        = var.region
    EB_KAFKA_BOOTSTRAP   = module.msk.bootstrap_brokers
    EB_KAFKA_AUTH        = "iam"
    EB_KAFKA_SERVERLESS  = tostring(var.msk_serverless)
    EB_REGISTRY_NAME     = module.registry.registry_name
    EB_LAKE_BUCKET       = module.storage.bucket_names["lake"]
    EB_CHECKPOINT_BUCKET = module.storage.bucket_names["checkpoints"]
    EB_LOG_LEVEL         = var.log_level
  }
  pg_env = {
    EB_PG_HOST     = module.aurora.endpoint
    EB_PG_PORT     = tostring(module.aurora.port)
    EB_PG_DATABASE = module.aurora.database_name
    # TLS with the server's certificate checked against the RDS CA bundle eventbus ships (eventbus/certs/).
    EB_PG_SSLMODE = "verify-full"
  }
}

# ---------------------------------------------------------------------------------------------
# Foundation: key, network, buckets
# ---------------------------------------------------------------------------------------------
module "kms" {
  source     = "./modules/kms"
  name       = var.name
  account_id = local.account_id
  region     = var.region
  partition  = local.partition
  tags       = local.tags
}

module "network" {
  source     = "./modules/network"
  account_id = local.account_id

  name                     = var.name
  cidr                     = var.vpc_cidr
  azs                      = local.azs
  enable_nat_gateway       = var.enable_nat_gateway
  interface_endpoints      = var.interface_endpoints
  kms_key_arn              = module.kms.key_arn
  flow_logs_retention_days = var.log_retention_days
  tags                     = local.tags
}

module "storage" {
  source = "./modules/storage"

  name          = var.name
  kms_key_arn   = module.kms.key_arn
  force_destroy = var.force_destroy_buckets
  tags          = local.tags
}

# ---------------------------------------------------------------------------------------------
# Data stores: Kafka, PostgreSQL, schemas
# ---------------------------------------------------------------------------------------------
module "msk" {
  source = "./modules/msk"

  name                 = var.name
  serverless           = var.msk_serverless
  subnet_ids           = module.network.private_subnet_ids
  security_group_ids   = [module.network.msk_security_group_id]
  kafka_version        = var.msk_kafka_version
  broker_instance_type = var.msk_broker_instance_type
  broker_count         = var.msk_broker_count
  kms_key_arn          = module.kms.key_arn
  log_retention_days   = var.log_retention_days
  tags                 = local.tags
}

module "aurora" {
  source = "./modules/aurora"

  name                = "${var.name}-oltp"
  engine_version      = var.aurora_engine_version
  min_capacity        = var.aurora_min_capacity
  max_capacity        = var.aurora_max_capacity
  instance_count      = var.aurora_instance_count
  subnet_ids          = module.network.private_subnet_ids
  security_group_ids  = [module.network.aurora_security_group_id]
  kms_key_arn         = module.kms.key_arn
  deletion_protection = var.deletion_protection
  skip_final_snapshot = var.skip_final_snapshot
  log_retention_days  = var.log_retention_days
  password_rotation   = var.secret_rotation
  account_id          = local.account_id
  tags                = local.tags
}

module "registry" {
  source = "./modules/registry"

  registry_name = var.registry_name
  catalog_path  = local.catalog_path
  schemas_dir   = dirname(local.catalog_path)
  tags          = local.tags
}

# ---------------------------------------------------------------------------------------------
# Workloads
# ---------------------------------------------------------------------------------------------
module "gateway" {
  source = "./modules/gateway"

  name                   = var.name
  account_id             = local.account_id
  key_rotation           = var.secret_rotation
  zip_path               = "${local.artifacts_dir}/gateway.zip"
  environment            = local.common_env
  policy_json            = data.aws_iam_policy_document.workload["gateway"].json
  subnet_ids             = module.network.private_subnet_ids
  security_group_ids     = [module.network.client_security_group_ids["gateway"]]
  kms_key_arn            = module.kms.key_arn
  api_keys               = var.gateway_api_keys
  throttling_rate_limit  = var.gateway_throttling_rate_limit
  throttling_burst_limit = var.gateway_throttling_burst_limit
  reserved_concurrency   = var.lambda_reserved_concurrency["gateway"]
  log_retention_days     = var.log_retention_days
  tags                   = local.tags
}

module "compute" {
  source = "./modules/compute"

  name               = var.name
  account_id         = local.account_id
  subnet_ids         = module.network.private_subnet_ids
  security_group_ids = module.network.client_security_group_ids
  kms_key_arn        = module.kms.key_arn
  log_retention_days = var.log_retention_days
  container_image    = var.container_image
  image_tag          = var.image_tag
  force_delete       = var.force_destroy_buckets
  reserved_concurrency = {
    bootstrap = var.lambda_reserved_concurrency["bootstrap"]
    burst     = var.lambda_reserved_concurrency["burst"]
  }

  simulators_scenario      = var.simulators_scenario
  simulators_desired_count = var.simulators_desired_count
  simulators_environment = merge(local.common_env, local.pg_env, {
    EB_PG_SECRET_ARN               = module.aurora.app_secret_arn
    EB_GATEWAY_URL                 = module.gateway.endpoint_url
    EB_GATEWAY_API_KEYS_SECRET_ARN = module.gateway.api_keys_secret_arn
  })
  simulators_policy_json = data.aws_iam_policy_document.workload["simulators"].json
  simulators_zip_path    = "${local.artifacts_dir}/simulators.zip"
  burst_schedule         = var.burst_schedule
  burst_enabled          = var.burst_enabled

  cdc_enabled = var.cdc_enabled
  cdc_environment = merge(local.common_env, local.pg_env, {
    EB_PG_SECRET_ARN = module.aurora.replication_secret_arn
  })
  cdc_policy_json = data.aws_iam_policy_document.workload["cdc_relay"].json

  bootstrap_zip_path = "${local.artifacts_dir}/bootstrap.zip"
  bootstrap_environment = merge(local.common_env, local.pg_env, {
    # The bootstrap's own settings (EB_BOOTSTRAP_*, lambdas/bootstrap/settings.py): the login roles it creates.
    EB_PG_SECRET_ARN                       = module.aurora.master_secret_arn
    EB_BOOTSTRAP_PG_REPLICATION_SECRET_ARN = module.aurora.replication_secret_arn
    EB_BOOTSTRAP_APP_SECRET_ARN            = module.aurora.app_secret_arn
    EB_BOOTSTRAP_DAGS_SECRET_ARN           = module.aurora.dags_secret_arn
  })
  bootstrap_policy_json = data.aws_iam_policy_document.bootstrap.json
  # Re-run the bootstrap when the catalog or a schema changes, or the cluster/DB is replaced.
  bootstrap_triggers = {
    catalog = filesha256(local.catalog_path)
    schemas = sha256(join(",", [for f in sort(tolist(fileset(dirname(local.catalog_path), "*.avsc"))) : filesha256("${dirname(local.catalog_path)}/${f}")]))
    cluster = module.msk.cluster_arn
    # The cluster's resource id is new whenever the cluster is replaced (the identifier and the instance
    # names stay the same), and a new cluster needs its tables, publication and roles again.
    database  = module.aurora.cluster_resource_id
    schema_id = join(",", values(module.registry.schema_arns))
    # A rewritten login-role secret (new endpoint, rotation) must reach the role in the database.
    secrets = join(",", [for k in sort(keys(module.aurora.login_secret_versions)) : module.aurora.login_secret_versions[k]])
  }

  tags = local.tags
}

module "emr" {
  source = "./modules/emr"

  name                  = var.name
  release_label         = var.emr_release_label
  subnet_ids            = module.network.private_subnet_ids
  security_group_ids    = [module.network.client_security_group_ids["emr"]]
  max_cpu               = var.emr_max_cpu
  max_memory            = var.emr_max_memory
  artifacts_bucket_arn  = module.storage.bucket_arns["artifacts"]
  lake_bucket_arn       = module.storage.bucket_arns["lake"]
  lake_write_prefix     = module.storage.lake_zones.processed
  checkpoint_bucket_arn = module.storage.bucket_arns["checkpoints"]
  account_id            = local.account_id
  entry_points          = local.emr_entry_points
  kafka_policy_json     = data.aws_iam_policy_document.workload["emr"].json
  kms_key_arn           = module.kms.key_arn
  log_retention_days    = var.log_retention_days
  tags                  = local.tags
}

module "mwaa" {
  source = "./modules/mwaa"
  count  = var.enable_mwaa ? 1 : 0

  name                  = var.name
  account_id            = local.account_id
  airflow_version       = var.mwaa_airflow_version
  environment_class     = var.mwaa_environment_class
  webserver_access_mode = var.mwaa_webserver_access_mode
  bucket_name           = module.storage.bucket_names["mwaa"]
  bucket_arn            = module.storage.bucket_arns["mwaa"]
  dags_dir              = "${local.artifacts_dir}/mwaa/dags"
  requirements_path     = "${local.artifacts_dir}/mwaa/requirements.txt"
  # The maps DAG reads bookings from Aurora as the DAGs' own read-only role (never the app's or the master).
  environment = merge(local.common_env, local.pg_env, {
    EB_PG_SECRET_ARN = module.aurora.dags_secret_arn
  })
  subnet_ids         = module.network.private_subnet_ids
  security_group_ids = [module.network.client_security_group_ids["mwaa"]]
  kms_key_arn        = module.kms.key_arn
  app_policy_json    = data.aws_iam_policy_document.mwaa_app.json
  raw_zone           = { bucket_arn = module.storage.bucket_arns["lake"], prefix = "raw/external" }
  log_retention_days = var.log_retention_days
  tags               = local.tags
}

# ---------------------------------------------------------------------------------------------
# Code artifacts the jobs read from S3 (emr_jobs bundle built by `make package`)
# ---------------------------------------------------------------------------------------------
locals {
  emr_dir   = "${local.artifacts_dir}/emr"
  emr_files = fileset(local.emr_dir, "**")
  # Entry points `make package` found (manifest), each of which must be in the bundle.
  emr_manifest     = "${local.emr_dir}/entrypoints.json"
  emr_entry_points = fileexists(local.emr_manifest) ? [for e in jsondecode(file(local.emr_manifest)).entry_points : e if fileexists("${local.emr_dir}/${e}")] : []
}

resource "aws_s3_object" "emr_artifact" {
  for_each    = local.emr_files
  bucket      = module.storage.bucket_names["artifacts"]
  key         = "emr/${each.value}"
  source      = "${local.emr_dir}/${each.value}"
  source_hash = filemd5("${local.emr_dir}/${each.value}")
  tags        = local.tags
}

# ---------------------------------------------------------------------------------------------
# Alarms and dashboard
# ---------------------------------------------------------------------------------------------
module "observability" {
  source = "./modules/observability"

  name                      = var.name
  region                    = var.region
  kms_key_arn               = module.kms.key_arn
  alarm_emails              = var.alarm_emails
  api_id                    = module.gateway.api_id
  api_stage                 = module.gateway.stage_name
  gateway_function_name     = module.gateway.function_name
  ecs_cluster_name          = module.compute.cluster_name
  cdc_service_name          = module.compute.service_names["cdc_relay"]
  cdc_enabled               = var.cdc_enabled
  cdc_log_group_name        = module.compute.service_log_group_names["cdc_relay"]
  aurora_writer_instance_id = module.aurora.instance_identifiers[0]
  msk_cluster_name          = module.msk.cluster_name
  consumer_lag_groups       = var.consumer_lag_groups
  tags                      = local.tags
}
