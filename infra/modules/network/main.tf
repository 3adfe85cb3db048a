locals {
  private_cidrs = [for i, _ in var.azs : cidrsubnet(var.cidr, 4, i)]
  public_cidrs  = [for i, _ in var.azs : cidrsubnet(var.cidr, 8, 240 + i)]
  nat_count     = var.enable_nat_gateway ? 1 : 0

  internet_clients = { for k, v in var.client_security_groups : k => v if v.internet && var.enable_nat_gateway }
  postgres_clients = { for k, v in var.client_security_groups : k => v if v.postgres }
  self_clients     = { for k, v in var.client_security_groups : k => v if v.self }
}

data "aws_region" "current" {}
data "aws_partition" "current" {}

# ---------------------------------------------------------------------------------------------
# VPC, subnets, routing
# ---------------------------------------------------------------------------------------------
resource "aws_vpc" "this" {
  cidr_block           = var.cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(var.tags, { Name = var.name })
}

# No rules = deny everything for anything that lands in the default group by mistake.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-default-deny" })
}

resource "aws_subnet" "private" {
  count             = length(var.azs)
  vpc_id            = aws_vpc.this.id
  cidr_block        = local.private_cidrs[count.index]
  availability_zone = var.azs[count.index]
  tags              = merge(var.tags, { Name = "${var.name}-private-${var.azs[count.index]}", Tier = "private" })
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-private" })
}

resource "aws_route_table_association" "private" {
  count          = length(var.azs)
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

resource "aws_subnet" "public" {
  count             = var.enable_nat_gateway ? length(var.azs) : 0
  vpc_id            = aws_vpc.this.id
  cidr_block        = local.public_cidrs[count.index]
  availability_zone = var.azs[count.index]
  # Only the NAT gateway lives here; nothing gets a public IP by default.
  map_public_ip_on_launch = false
  tags                    = merge(var.tags, { Name = "${var.name}-public-${var.azs[count.index]}", Tier = "public" })
}

resource "aws_internet_gateway" "this" {
  count  = local.nat_count
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = var.name })
}

resource "aws_route_table" "public" {
  count  = local.nat_count
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "public_internet" {
  count                  = local.nat_count
  route_table_id         = aws_route_table.public[0].id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this[0].id
}

resource "aws_route_table_association" "public" {
  count          = var.enable_nat_gateway ? length(var.azs) : 0
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public[0].id
}

resource "aws_eip" "nat" {
  count  = local.nat_count
  domain = "vpc"
  tags   = merge(var.tags, { Name = "${var.name}-nat" })
}

resource "aws_nat_gateway" "this" {
  count         = local.nat_count
  allocation_id = aws_eip.nat[0].id
  subnet_id     = aws_subnet.public[0].id
  tags          = merge(var.tags, { Name = var.name })
  depends_on    = [aws_internet_gateway.this]
}

resource "aws_route" "private_nat" {
  count                  = local.nat_count
  route_table_id         = aws_route_table.private.id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[0].id
}

# ---------------------------------------------------------------------------------------------
# VPC endpoints: S3 (gateway, free) + interface endpoints for the AWS APIs the code calls
# ---------------------------------------------------------------------------------------------
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id]
  tags              = merge(var.tags, { Name = "${var.name}-s3" })
}

resource "aws_vpc_endpoint" "interface" {
  for_each            = var.interface_endpoints
  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${data.aws_region.current.name}.${each.key}"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints.id]
  tags                = merge(var.tags, { Name = "${var.name}-${each.key}" })
}

# ---------------------------------------------------------------------------------------------
# Security groups: one per workload + MSK, Aurora, endpoints. Only the data-path flows.
# ---------------------------------------------------------------------------------------------
resource "aws_security_group" "client" {
  for_each    = var.client_security_groups
  name        = "${var.name}-${replace(each.key, "_", "-")}"
  description = "${var.name} ${each.key}: egress to MSK, endpoints and S3 only"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-${replace(each.key, "_", "-")}" })
}

resource "aws_security_group" "msk" {
  name        = "${var.name}-msk"
  description = "${var.name} MSK: SASL/IAM from the layer's workloads"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-msk" })
}

resource "aws_security_group" "aurora" {
  name        = "${var.name}-aurora"
  description = "${var.name} Aurora PostgreSQL: from CDC relay, OLTP workload and bootstrap"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-aurora" })
}

resource "aws_security_group" "endpoints" {
  name        = "${var.name}-endpoints"
  description = "${var.name} interface VPC endpoints: HTTPS from the layer's workloads"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-endpoints" })
}

# --- client egress ----------------------------------------------------------------------------
resource "aws_vpc_security_group_egress_rule" "client_to_msk" {
  for_each                     = aws_security_group.client
  security_group_id            = each.value.id
  description                  = "Kafka SASL/IAM to MSK"
  ip_protocol                  = "tcp"
  from_port                    = var.kafka_port
  to_port                      = var.kafka_port
  referenced_security_group_id = aws_security_group.msk.id
}

resource "aws_vpc_security_group_egress_rule" "client_to_endpoints" {
  for_each                     = aws_security_group.client
  security_group_id            = each.value.id
  description                  = "HTTPS to interface VPC endpoints"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints.id
}

resource "aws_vpc_security_group_egress_rule" "client_to_s3" {
  for_each          = aws_security_group.client
  security_group_id = each.value.id
  description       = "HTTPS to S3 through the gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = aws_vpc_endpoint.s3.prefix_list_id
}

resource "aws_vpc_security_group_egress_rule" "client_to_postgres" {
  for_each                     = local.postgres_clients
  security_group_id            = aws_security_group.client[each.key].id
  description                  = "PostgreSQL to Aurora"
  ip_protocol                  = "tcp"
  from_port                    = var.postgres_port
  to_port                      = var.postgres_port
  referenced_security_group_id = aws_security_group.aurora.id
}

resource "aws_vpc_security_group_egress_rule" "client_to_internet" {
  for_each          = local.internet_clients
  security_group_id = aws_security_group.client[each.key].id
  description       = "HTTPS to the internet through the NAT gateway"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "client_self" {
  for_each                     = local.self_clients
  security_group_id            = aws_security_group.client[each.key].id
  description                  = "All traffic within the group (MWAA requirement)"
  ip_protocol                  = "-1"
  referenced_security_group_id = aws_security_group.client[each.key].id
}

resource "aws_vpc_security_group_egress_rule" "client_self" {
  for_each                     = local.self_clients
  security_group_id            = aws_security_group.client[each.key].id
  description                  = "All traffic within the group (MWAA requirement)"
  ip_protocol                  = "-1"
  referenced_security_group_id = aws_security_group.client[each.key].id
}

# --- ingress to the data stores and endpoints ------------------------------------------------
resource "aws_vpc_security_group_ingress_rule" "msk_from_client" {
  for_each                     = aws_security_group.client
  security_group_id            = aws_security_group.msk.id
  description                  = "Kafka SASL/IAM from ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = var.kafka_port
  to_port                      = var.kafka_port
  referenced_security_group_id = each.value.id
}

resource "aws_vpc_security_group_ingress_rule" "aurora_from_client" {
  for_each                     = local.postgres_clients
  security_group_id            = aws_security_group.aurora.id
  description                  = "PostgreSQL from ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = var.postgres_port
  to_port                      = var.postgres_port
  referenced_security_group_id = aws_security_group.client[each.key].id
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_client" {
  for_each                     = aws_security_group.client
  security_group_id            = aws_security_group.endpoints.id
  description                  = "HTTPS from ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = each.value.id
}

# ---------------------------------------------------------------------------------------------
# Flow logs (rejected and accepted traffic) to an encrypted log group
# ---------------------------------------------------------------------------------------------
resource "aws_cloudwatch_log_group" "flow_logs" {
  name              = "/aws/vpc/${var.name}/flow-logs"
  retention_in_days = var.flow_logs_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
    # Confused-deputy guard (VPC user guide, "IAM role for publishing flow logs to CloudWatch Logs").
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.name}:${var.account_id}:vpc-flow-log/*"]
    }
  }
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow_logs.arn}:*"]
  }
}

resource "aws_iam_role" "flow_logs" {
  name               = "${var.name}-vpc-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "write-flow-logs"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs.json
}

resource "aws_flow_log" "this" {
  vpc_id          = aws_vpc.this.id
  traffic_type    = "ALL"
  log_destination = aws_cloudwatch_log_group.flow_logs.arn
  iam_role_arn    = aws_iam_role.flow_logs.arn
  tags            = var.tags
}
