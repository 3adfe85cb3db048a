output "bootstrap_brokers" {
  description = "SASL/IAM bootstrap brokers."
  value       = module.msk.bootstrap_brokers
}

output "producer_security_group_id" {
  description = "Attach to clients that produce to the cluster."
  value       = module.network.client_security_group_ids["producers"]
}
