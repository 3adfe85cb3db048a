output "endpoint_url" {
  description = "Base URL of the gateway (EB_GATEWAY_URL for the simulators)."
  value       = aws_apigatewayv2_stage.default.invoke_url
}

output "api_id" {
  description = "HTTP API ID (CloudWatch dimension ApiId)."
  value       = aws_apigatewayv2_api.this.id
}

output "stage_name" {
  description = "Stage name (CloudWatch dimension Stage)."
  value       = aws_apigatewayv2_stage.default.name
}

output "function_name" {
  description = "Gateway Lambda name."
  value       = module.function.function_name
}

output "function_role_name" {
  description = "Gateway Lambda execution role name."
  value       = module.function.role_name
}

output "api_keys_secret_arn" {
  description = "Secret with the accepted API keys (EB_GATEWAY_API_KEYS_SECRET_ARN)."
  value       = aws_secretsmanager_secret.api_keys.arn
}

output "log_group_names" {
  description = "Function and access log groups."
  value       = [module.function.log_group_name, aws_cloudwatch_log_group.access.name]
}
