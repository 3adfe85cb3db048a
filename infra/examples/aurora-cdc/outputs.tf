output "pg_host" {
  description = "EB_PG_HOST."
  value       = module.aurora.endpoint
}

output "replication_secret_arn" {
  description = "EB_PG_SECRET_ARN for the CDC relay."
  value       = module.aurora.replication_secret_arn
}

output "cdc_security_group_id" {
  description = "Attach to the CDC relay's task or function."
  value       = module.network.client_security_group_ids["cdc_relay"]
}
