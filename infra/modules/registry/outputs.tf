output "registry_name" {
  description = "Registry name (EB_REGISTRY_NAME)."
  value       = aws_glue_registry.this.registry_name
}

output "registry_arn" {
  description = "Registry ARN."
  value       = aws_glue_registry.this.arn
}

output "schema_arns" {
  description = "Schema ARN per topic."
  value       = { for t, s in aws_glue_schema.this : t => s.arn }
}

output "topics" {
  description = "Topic names from the catalog."
  value       = sort(keys(local.topic_schema))
}

output "unused_schema_files" {
  description = "`*.avsc` files no topic refers to (registered by nobody; informative)."
  value       = sort(tolist(local.unused))
}
