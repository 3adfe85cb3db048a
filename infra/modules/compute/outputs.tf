output "cluster_name" {
  description = "ECS cluster name."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ECS cluster ARN."
  value       = aws_ecs_cluster.this.arn
}

output "service_names" {
  description = "ECS service name per workload (simulators, cdc_relay)."
  value       = { for k, s in aws_ecs_service.this : k => s.name }
}

output "ecr_repository_url" {
  description = "Where to push the image (infra/docker/Dockerfile)."
  value       = aws_ecr_repository.this.repository_url
}

output "image" {
  description = "Image the tasks run."
  value       = local.image
}

output "bootstrap_function_name" {
  description = "Bootstrap Lambda name (re-run: `aws lambda invoke --function-name ...`)."
  value       = module.bootstrap.function_name
}

output "bootstrap_result" {
  description = "What the bootstrap Lambda returned on its last Terraform-driven invocation."
  value       = one(aws_lambda_invocation.bootstrap[*].result)
}

output "burst_function_name" {
  description = "Simulator burst Lambda name."
  value       = module.burst.function_name
}

output "service_log_group_names" {
  description = "Log group per ECS service (simulators, cdc_relay)."
  value       = { for k, lg in aws_cloudwatch_log_group.service : k => lg.name }
}

output "log_group_names" {
  description = "Log groups of the services and functions."
  value = concat(
    [for lg in aws_cloudwatch_log_group.service : lg.name],
    [module.bootstrap.log_group_name, module.burst.log_group_name],
  )
}
