output "cluster_identifier" {
  description = "Cluster identifier (CloudWatch dimension DBClusterIdentifier)."
  value       = aws_rds_cluster.this.cluster_identifier
}

output "cluster_arn" {
  description = "Cluster ARN."
  value       = aws_rds_cluster.this.arn
}

output "cluster_resource_id" {
  description = "Cluster resource ID (for rds-db:connect IAM policies)."
  value       = aws_rds_cluster.this.cluster_resource_id
}

output "endpoint" {
  description = "Writer endpoint (EB_PG_HOST), once the writer instance exists."
  value       = aws_rds_cluster.this.endpoint
  # A cluster without instances is "available" minutes before anything answers at its endpoint: whatever
  # connects through this output (the bootstrap's invocation, the CDC relay, the simulators) waits for the
  # instances, not only the cluster.
  depends_on = [aws_rds_cluster_instance.this]
}

output "reader_endpoint" {
  description = "Reader endpoint."
  value       = aws_rds_cluster.this.reader_endpoint
}

output "port" {
  description = "PostgreSQL port (EB_PG_PORT)."
  value       = aws_rds_cluster.this.port
}

output "database_name" {
  description = "Database name (EB_PG_DATABASE)."
  value       = var.database_name
}

output "master_secret_arn" {
  description = "Secrets Manager secret RDS manages for the master user (JSON: username, password)."
  value       = aws_rds_cluster.this.master_user_secret[0].secret_arn
}

output "replication_secret_arn" {
  description = "Secret of the CDC relay's replication role (JSON: username, password, host, port, dbname)."
  value       = aws_secretsmanager_secret.login["replication"].arn
}

output "app_secret_arn" {
  description = "Secret of the OLTP workload's DML-only role (JSON: username, password, host, port, dbname)."
  value       = aws_secretsmanager_secret.login["app"].arn
}

output "app_username" {
  description = "Name of the OLTP workload's DML-only role."
  value       = var.app_username
}

output "dags_secret_arn" {
  description = "Secret of the DAGs' read-only role (JSON: username, password, host, port, dbname)."
  value       = aws_secretsmanager_secret.login["dags"].arn
}

output "dags_username" {
  description = "Name of the DAGs' read-only role."
  value       = var.dags_username
}

output "login_secret_versions" {
  description = "Written version of each login-role secret (changes when a secret is rewritten: re-run the bootstrap)."
  value       = { for k, v in aws_secretsmanager_secret_version.login : k => v.version_id }
}

output "replication_username" {
  description = "Name of the CDC relay's replication role."
  value       = var.replication_username
}

output "instance_identifiers" {
  description = "Instance identifiers (CloudWatch dimension DBInstanceIdentifier)."
  value       = aws_rds_cluster_instance.this[*].identifier
}
