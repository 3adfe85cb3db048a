output "vpc_id" {
  description = "VPC ID."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "VPC CIDR block."
  value       = aws_vpc.this.cidr_block
}

output "private_subnet_ids" {
  description = "Private subnet IDs, one per AZ."
  value       = aws_subnet.private[*].id
}

output "public_subnet_ids" {
  description = "Public subnet IDs (only when the NAT gateway is on)."
  value       = aws_subnet.public[*].id
}

output "client_security_group_ids" {
  description = "Security group ID of each workload, keyed as in var.client_security_groups."
  value       = { for k, sg in aws_security_group.client : k => sg.id }
}

output "msk_security_group_id" {
  description = "Security group for the MSK cluster."
  value       = aws_security_group.msk.id
}

output "aurora_security_group_id" {
  description = "Security group for the Aurora cluster."
  value       = aws_security_group.aurora.id
}

output "s3_prefix_list_id" {
  description = "Prefix list of the S3 gateway endpoint."
  value       = aws_vpc_endpoint.s3.prefix_list_id
}

output "nat_public_ip" {
  description = "Public IP of the NAT gateway (null when off) — what external APIs see."
  value       = one(aws_eip.nat[*].public_ip)
}
