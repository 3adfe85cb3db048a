output "cluster_arn" {
  description = "Cluster ARN (IAM resource for kafka-cluster:Connect)."
  value       = local.cluster_arn
}

output "cluster_name" {
  description = "Cluster name (CloudWatch dimension `Cluster Name`)."
  value       = var.name
}

output "bootstrap_brokers" {
  description = "SASL/IAM bootstrap brokers (host:9098,...) — EB_KAFKA_BOOTSTRAP."
  value       = var.serverless ? aws_msk_serverless_cluster.this[0].bootstrap_brokers_sasl_iam : aws_msk_cluster.this[0].bootstrap_brokers_sasl_iam
}

output "topic_arn_prefix" {
  description = "Prefix of topic ARNs: append `/<topic>` (IAM resource for DescribeTopic/ReadData/WriteData)."
  value       = local.topic_arn_prefix
}

output "group_arn_prefix" {
  description = "Prefix of consumer-group ARNs: append `/<group>`."
  value       = local.group_arn_prefix
}

output "serverless" {
  description = "Whether the cluster is MSK Serverless."
  value       = var.serverless
}
