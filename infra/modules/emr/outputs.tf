output "application_id" {
  description = "EMR Serverless application ID (`--application-id`)."
  value       = aws_emrserverless_application.this.id
}

output "application_arn" {
  description = "EMR Serverless application ARN."
  value       = aws_emrserverless_application.this.arn
}

output "execution_role_arn" {
  description = "Job runtime role (`--execution-role-arn`)."
  value       = aws_iam_role.execution.arn
}

output "log_group_name" {
  description = "Log group for job runs (cloudWatchLoggingConfiguration.logGroupName)."
  value       = aws_cloudwatch_log_group.jobs.name
}

output "release_label" {
  description = "EMR release of the application."
  value       = aws_emrserverless_application.this.release_label
}
