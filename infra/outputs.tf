output "gateway_url" {
  description = "Gateway base URL (POST events with X-API-Key; GET /health)."
  value       = module.gateway.endpoint_url
}

output "gateway_api_keys_secret_arn" {
  description = "Secret holding the gateway API keys (JSON list)."
  value       = module.gateway.api_keys_secret_arn
}

output "kafka_bootstrap_brokers" {
  description = "MSK SASL/IAM bootstrap brokers (EB_KAFKA_BOOTSTRAP)."
  value       = module.msk.bootstrap_brokers
}

output "msk_cluster_arn" {
  description = "MSK cluster ARN."
  value       = module.msk.cluster_arn
}

output "aurora_endpoint" {
  description = "Aurora writer endpoint (EB_PG_HOST)."
  value       = module.aurora.endpoint
}

output "aurora_master_secret_arn" {
  description = "RDS-managed master user secret."
  value       = module.aurora.master_secret_arn
}

output "aurora_replication_secret_arn" {
  description = "CDC relay replication role secret."
  value       = module.aurora.replication_secret_arn
}

output "registry_name" {
  description = "Glue Schema Registry (EB_REGISTRY_NAME)."
  value       = module.registry.registry_name
}

output "schema_arns" {
  description = "Glue schema ARN per topic."
  value       = module.registry.schema_arns
}

output "buckets" {
  description = "Bucket names: lake, checkpoints, artifacts, mwaa."
  value       = module.storage.bucket_names
}

output "ecr_repository_url" {
  description = "Push the simulators/CDC image here (infra/docker/Dockerfile)."
  value       = module.compute.ecr_repository_url
}

output "ecs_cluster_name" {
  description = "ECS cluster of the simulators and the CDC relay."
  value       = module.compute.cluster_name
}

output "bootstrap_function_name" {
  description = "Bootstrap Lambda (re-run by hand: aws lambda invoke --function-name <this> out.json)."
  value       = module.compute.bootstrap_function_name
}

output "bootstrap_result" {
  description = "What the bootstrap returned when Terraform last invoked it."
  value       = module.compute.bootstrap_result
}

output "emr_application_id" {
  description = "EMR Serverless application ID."
  value       = module.emr.application_id
}

output "emr_execution_role_arn" {
  description = "Runtime role for EMR Serverless job runs."
  value       = module.emr.execution_role_arn
}

output "emr_log_group_name" {
  description = "Log group for EMR job runs."
  value       = module.emr.log_group_name
}

output "mwaa_environment_name" {
  description = "MWAA environment (null when MWAA is disabled): `make deploy` upserts its Airflow pools."
  value       = one(module.mwaa[*].environment_name)
}

output "mwaa_deploy_pools_policy_arn" {
  description = "IAM policy the identity running `make deploy` needs for the pools step (airflow:InvokeRestApi as Op; null when MWAA is disabled)."
  value       = one(module.mwaa[*].deploy_pools_policy_arn)
}

output "mwaa_webserver_url" {
  description = "Airflow UI (null when MWAA is disabled)."
  value       = one(module.mwaa[*].webserver_url)
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify."
  value       = module.observability.alarm_topic_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = module.observability.dashboard_name
}

output "component_environment" {
  description = "EB_* settings every component receives (for running a component by hand against this deployment)."
  value       = merge(local.common_env, local.pg_env)
}

output "topic_access" {
  description = "Kafka topics each workload may write and read, derived from the catalog's writers/readers (schemas/topics.yaml)."
  value       = local.topic_access
}

output "emr_job_environment" {
  description = "Settings of `python -m emr_jobs.submit` for this deployment (`make deploy` exports them): the application, its role, the uploaded bundle, the job-run log group, and the lake zone / checkpoint roots the job role may write."
  value = merge(local.common_env, {
    EB_EMR_APPLICATION_ID     = module.emr.application_id
    EB_EMR_EXECUTION_ROLE_ARN = module.emr.execution_role_arn
    EB_SPARK_EMR_CODE_URI     = "s3://${module.storage.bucket_names["artifacts"]}/emr"
    EB_SPARK_EMR_LOG_GROUP    = module.emr.log_group_name
    EB_SPARK_LAKE_ROOT        = "s3://${module.storage.bucket_names["lake"]}/${trimsuffix(module.storage.lake_zones.processed, "/")}"
    EB_SPARK_CHECKPOINT_ROOT  = "s3://${module.storage.bucket_names["checkpoints"]}/spark"
  })
}
