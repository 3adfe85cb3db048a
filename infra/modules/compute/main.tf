locals {
  image = var.container_image != null ? var.container_image : "${aws_ecr_repository.this.repository_url}:${coalesce(var.image_tag, "unset")}"

  # The two long-running containers: same image, different entry points.
  services = {
    simulators = {
      command       = ["python", "-m", "lambdas.simulators", "run", "--scenario", var.simulators_scenario]
      cpu           = var.simulators_cpu
      memory        = var.simulators_memory
      desired_count = var.simulators_desired_count
      environment   = var.simulators_environment
      policy_json   = var.simulators_policy_json
      # Many simulators may run side by side during a deploy.
      min_healthy = 100
      max_percent = 200
    }
    cdc_relay = {
      command       = ["python", "-m", "lambdas.cdc"]
      cpu           = var.cdc_cpu
      memory        = var.cdc_memory
      desired_count = var.cdc_enabled ? 1 : 0
      environment   = var.cdc_environment
      policy_json   = var.cdc_policy_json
      # Never two relays on one replication slot: stop the old task before starting the new one.
      min_healthy = 0
      max_percent = 100
    }
  }
}

data "aws_partition" "current" {}
data "aws_region" "current" {}

# ---------------------------------------------------------------------------------------------
# Image repository (build + push: infra/README.md "Container image")
# ---------------------------------------------------------------------------------------------
resource "aws_ecr_repository" "this" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_delete # destroy deletes the images too (else: RepositoryNotEmptyException)

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the 20 most recent images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 20 }
      action       = { type = "expire" }
    }]
  })
}

# ---------------------------------------------------------------------------------------------
# ECS cluster + Fargate services: simulators and the CDC relay
# ---------------------------------------------------------------------------------------------
resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = var.tags
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

resource "aws_cloudwatch_log_group" "service" {
  for_each          = local.services
  name              = "/ecs/${var.name}/${replace(each.key, "_", "-")}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# Task roles: only ECS tasks of this account (confused-deputy guard, per the ECS task IAM role docs).
data "aws_iam_policy_document" "ecs_task_role_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:ecs:${data.aws_region.current.name}:${var.account_id}:*"]
    }
  }
}

# Execution role: what ECS itself needs to start the task (pull the image, write logs).
resource "aws_iam_role" "execution" {
  name               = "${var.name}-ecs-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "EcrToken"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # the action has no resource-level permissions
  }
  statement {
    sid       = "PullImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = [aws_ecr_repository.this.arn]
  }
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for lg in aws_cloudwatch_log_group.service : "${lg.arn}:*"]
  }
  statement {
    sid       = "DecryptImageLayers"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "start-tasks"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# Task roles: what the code needs (one per service).
resource "aws_iam_role" "task" {
  for_each           = local.services
  name               = "${var.name}-${replace(each.key, "_", "-")}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_task_role_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "task" {
  for_each                = local.services
  source_policy_documents = [each.value.policy_json]
  statement {
    sid       = "UseLayerKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "task" {
  for_each = local.services
  name     = "app"
  role     = aws_iam_role.task[each.key].id
  policy   = data.aws_iam_policy_document.task[each.key].json
}

resource "aws_ecs_task_definition" "this" {
  for_each                 = local.services
  family                   = "${var.name}-${replace(each.key, "_", "-")}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task[each.key].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = replace(each.key, "_", "-")
    image                  = local.image
    command                = each.value.command
    essential              = true
    readonlyRootFilesystem = true
    user                   = "10001"
    environment            = [for k in sort(keys(each.value.environment)) : { name = k, value = each.value.environment[k] }]
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    stopTimeout            = 60 # time to flush the producer and report anything undelivered
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service[each.key].name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = replace(each.key, "_", "-")
      }
    }
  }])

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.container_image != null || var.image_tag != null
      error_message = "No image for the simulators and the CDC relay: set image_tag (`make deploy` builds and pushes infra/docker/Dockerfile and passes its tag) or container_image."
    }
  }
}

resource "aws_ecs_service" "this" {
  for_each        = local.services
  name            = replace(each.key, "_", "-")
  cluster         = aws_ecs_cluster.this.id
  task_definition = aws_ecs_task_definition.this[each.key].arn
  desired_count   = each.value.desired_count
  launch_type     = "FARGATE"

  deployment_minimum_healthy_percent = each.value.min_healthy
  deployment_maximum_percent         = each.value.max_percent
  enable_execute_command             = false
  propagate_tags                     = "SERVICE"

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [var.security_group_ids[each.key]]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  tags = var.tags

  # Start after the bootstrap ran: the CDC relay needs its login role, publication and topics, the
  # simulators their DB role and topics (otherwise the relay crash-loops into a rollback).
  depends_on = [aws_lambda_invocation.bootstrap]
}

# ---------------------------------------------------------------------------------------------
# Bootstrap Lambda: applies the topic catalog (topics, schemas) and the DB setup; invoked on apply
# ---------------------------------------------------------------------------------------------
module "bootstrap" {
  source = "../lambda_function"

  account_id = var.account_id

  function_name        = "${var.name}-bootstrap"
  description          = "Applies schemas/topics.yaml: topics in MSK, schemas in Glue, OLTP schema + CDC role in Aurora."
  zip_path             = var.bootstrap_zip_path
  handler              = var.bootstrap_handler
  memory_size          = 512
  timeout              = 300
  reserved_concurrency = var.reserved_concurrency["bootstrap"]
  environment          = var.bootstrap_environment
  subnet_ids           = var.subnet_ids
  security_group_ids   = [var.security_group_ids["bootstrap"]]
  kms_key_arn          = var.kms_key_arn
  policy_json          = var.bootstrap_policy_json
  log_retention_days   = var.log_retention_days
  tags                 = var.tags
}

resource "aws_lambda_invocation" "bootstrap" {
  count         = var.bootstrap_invoke ? 1 : 0
  function_name = module.bootstrap.function_name
  input         = jsonencode({ source = "terraform", triggers = var.bootstrap_triggers })
  triggers      = merge(var.bootstrap_triggers, { code = fileexists(var.bootstrap_zip_path) ? filesha256(var.bootstrap_zip_path) : "missing" })
}

# ---------------------------------------------------------------------------------------------
# Simulator bursts: Lambda on an EventBridge Scheduler schedule
# ---------------------------------------------------------------------------------------------
module "burst" {
  source = "../lambda_function"

  account_id = var.account_id

  function_name        = "${var.name}-simulators-burst"
  description          = "Scheduled simulator burst (same sources as the Fargate simulators)."
  zip_path             = var.simulators_zip_path
  handler              = var.burst_handler
  memory_size          = 1024
  timeout              = 900
  reserved_concurrency = var.reserved_concurrency["burst"]
  environment          = var.simulators_environment
  subnet_ids           = var.subnet_ids
  security_group_ids   = [var.security_group_ids["simulators"]]
  kms_key_arn          = var.kms_key_arn
  policy_json          = var.simulators_policy_json
  log_retention_days   = var.log_retention_days
  tags                 = var.tags
}

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name}-burst-scheduler"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    actions   = ["lambda:InvokeFunction"]
    resources = [module.burst.function_arn]
  }
  statement {
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "invoke-burst"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

resource "aws_scheduler_schedule" "burst" {
  name                = "${var.name}-simulators-burst"
  description         = "Runs a simulator burst Lambda."
  schedule_expression = var.burst_schedule
  state               = var.burst_enabled ? "ENABLED" : "DISABLED"
  kms_key_arn         = var.kms_key_arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = module.burst.function_arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode(var.burst_input)
    retry_policy {
      maximum_retry_attempts       = 0 # a burst that failed is reported, not replayed late
      maximum_event_age_in_seconds = 300
    }
  }

  depends_on = [aws_lambda_invocation.bootstrap] # the burst writes topics and tables the bootstrap creates
}

# The Scheduler invokes the function asynchronously: Lambda's own async retries (2 by default) would
# replay a failed burst late, so they are off too, matching the schedule's retry policy.
resource "aws_lambda_function_event_invoke_config" "burst" {
  function_name                = module.burst.function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 300
}
