output "environment_name" {
  description = "MWAA environment name."
  value       = aws_mwaa_environment.this.name
}

output "environment_arn" {
  description = "MWAA environment ARN."
  value       = aws_mwaa_environment.this.arn
}

output "webserver_url" {
  description = "Airflow UI URL."
  value       = aws_mwaa_environment.this.webserver_url
}

output "execution_role_arn" {
  description = "Execution role of the environment."
  value       = aws_iam_role.execution.arn
}

output "dag_object_count" {
  description = "DAG bundle files uploaded."
  value       = length(aws_s3_object.dag)
}

output "dag_secret_arns" {
  description = "Secrets of the DAG sources, by name (put their values after apply)."
  value       = { for k, s in aws_secretsmanager_secret.dag : k => s.arn }
}

output "dag_failure_alarm_arn" {
  description = "CloudWatch alarm on the DAGs' DagRunFailed metric."
  value       = aws_cloudwatch_metric_alarm.dag_failures.arn
}

output "deploy_pools_policy_arn" {
  description = "IAM policy `make deploy` needs to upsert the Airflow pools (airflow:InvokeRestApi as Op on this environment); attach it to the deploying identity."
  value       = aws_iam_policy.deploy_pools.arn
}
