output "bucket_names" {
  description = "Bucket name per purpose: lake, checkpoints, artifacts, mwaa."
  value       = { for k, b in aws_s3_bucket.this : k => b.bucket }
}

output "bucket_arns" {
  description = "Bucket ARN per purpose: lake, checkpoints, artifacts, mwaa."
  value       = { for k, b in aws_s3_bucket.this : k => b.arn }
}

output "access_log_bucket_name" {
  description = "Bucket receiving S3 server access logs."
  value       = aws_s3_bucket.logs.bucket
}

output "lake_zones" {
  description = "Lake zone prefixes: raw (the DAGs' landing copy) and processed (what the Spark jobs write)."
  value       = local.zones
}
