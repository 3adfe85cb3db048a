locals {
  actions   = [aws_sns_topic.alarms.arn]
  namespace = "TravelDataSources/${var.name}"
}

# ---------------------------------------------------------------------------------------------
# Alarm topic
# ---------------------------------------------------------------------------------------------
resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = toset(var.alarm_emails)
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

# ---------------------------------------------------------------------------------------------
# Gateway: 5xx from API Gateway (includes 503 when the broker cannot acknowledge) + Lambda errors
# ---------------------------------------------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "gateway_5xx" {
  alarm_name          = "${var.name}-gateway-5xx"
  alarm_description   = "Gateway answered 5xx: broker unavailable (503) or a bug (500). Check the gateway log group."
  namespace           = "AWS/ApiGateway"
  metric_name         = "5xx"
  dimensions          = { ApiId = var.api_id, Stage = var.api_stage }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.gateway_5xx_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "gateway_errors" {
  alarm_name          = "${var.name}-gateway-lambda-errors"
  alarm_description   = "The gateway Lambda raised (unhandled errors, timeouts)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = var.gateway_function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  tags                = var.tags
}

# ---------------------------------------------------------------------------------------------
# CDC: WAL held back by replication slots (relay behind or down) and the relay task running
# ---------------------------------------------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "cdc_slot_lag" {
  alarm_name          = "${var.name}-cdc-replication-slot-lag"
  alarm_description   = "WAL retained for replication slots is above threshold: the CDC relay is behind or stopped; Aurora storage grows until it catches up."
  namespace           = "AWS/RDS"
  metric_name         = "ReplicationSlotDiskUsage"
  dimensions          = { DBInstanceIdentifier = var.aurora_writer_instance_id }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  threshold           = var.cdc_slot_lag_bytes_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

# The relay's own measure of lag: age of the oldest change Kafka has not acknowledged yet.
resource "aws_cloudwatch_log_metric_filter" "cdc_lag" {
  for_each       = { CdcLagMs = "$.lag_ms", CdcLagBytes = "$.lag_bytes" }
  name           = "${var.name}-${each.key}"
  log_group_name = var.cdc_log_group_name
  pattern        = "{ $.msg = \"cdc status\" }"

  metric_transformation {
    name      = each.key
    namespace = local.namespace
    value     = each.value
    unit      = each.key == "CdcLagMs" ? "Milliseconds" : "Bytes"
  }
}

resource "aws_cloudwatch_metric_alarm" "cdc_lag" {
  count               = var.cdc_enabled ? 1 : 0
  alarm_name          = "${var.name}-cdc-lag"
  alarm_description   = "The CDC relay's oldest unacknowledged change is older than ${var.cdc_lag_ms_threshold} ms (Kafka slow/unavailable or the relay stuck); no status lines at all also alarms."
  namespace           = local.namespace
  metric_name         = "CdcLagMs"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = var.cdc_lag_ms_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
  depends_on          = [aws_cloudwatch_log_metric_filter.cdc_lag]
}

resource "aws_cloudwatch_metric_alarm" "cdc_not_running" {
  count               = var.cdc_enabled ? 1 : 0
  alarm_name          = "${var.name}-cdc-relay-not-running"
  alarm_description   = "No CDC relay task is running: changes accumulate in the replication slot."
  namespace           = "ECS/ContainerInsights"
  metric_name         = "RunningTaskCount"
  dimensions          = { ClusterName = var.ecs_cluster_name, ServiceName = var.cdc_service_name }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 5
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

# ---------------------------------------------------------------------------------------------
# Consumer lag (MSK): estimated time the slowest partition of a group is behind
# ---------------------------------------------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "consumer_lag" {
  for_each            = var.consumer_lag_groups
  alarm_name          = "${var.name}-consumer-lag-${each.key}"
  alarm_description   = "Consumer group ${each.key} is more than ${var.consumer_lag_seconds_threshold}s behind on ${each.value}."
  namespace           = "AWS/Kafka"
  metric_name         = "EstimatedMaxTimeLag"
  dimensions          = { "Cluster Name" = var.msk_cluster_name, "Consumer Group" = each.key, Topic = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = var.consumer_lag_seconds_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

# ---------------------------------------------------------------------------------------------
# Dashboard
# ---------------------------------------------------------------------------------------------
resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title  = "Gateway requests and errors"
          region = var.region
          stat   = "Sum"
          period = 60
          metrics = [
            ["AWS/ApiGateway", "Count", "ApiId", var.api_id, "Stage", var.api_stage],
            [".", "4xx", ".", ".", ".", "."],
            [".", "5xx", ".", ".", ".", "."],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title  = "Gateway latency (p50/p99, ms)"
          region = var.region
          period = 60
          metrics = [
            ["AWS/ApiGateway", "Latency", "ApiId", var.api_id, "Stage", var.api_stage, { stat = "p50" }],
            ["...", { stat = "p99" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title  = "CDC lag: oldest unacknowledged change (ms), WAL retained by slots (bytes)"
          region = var.region
          stat   = "Maximum"
          period = 60
          metrics = [
            [local.namespace, "CdcLagMs"],
            ["AWS/RDS", "ReplicationSlotDiskUsage", "DBInstanceIdentifier", var.aurora_writer_instance_id, { yAxis = "right" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title  = "Aurora capacity (ACU) and CPU"
          region = var.region
          stat   = "Average"
          period = 300
          metrics = [
            ["AWS/RDS", "ServerlessDatabaseCapacity", "DBInstanceIdentifier", var.aurora_writer_instance_id],
            [".", "CPUUtilization", ".", "."],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title   = "Running tasks (simulators, CDC relay)"
          region  = var.region
          stat    = "Minimum"
          period  = 60
          metrics = [["ECS/ContainerInsights", "RunningTaskCount", "ClusterName", var.ecs_cluster_name, "ServiceName", var.cdc_service_name]]
        }
      },
      {
        type = "metric", x = 12, y = 12, width = 12, height = 6
        properties = {
          title   = "Consumer lag (s)"
          region  = var.region
          stat    = "Maximum"
          period  = 60
          metrics = length(var.consumer_lag_groups) == 0 ? [["AWS/Kafka", "EstimatedMaxTimeLag", "Cluster Name", var.msk_cluster_name]] : [for g, t in var.consumer_lag_groups : ["AWS/Kafka", "EstimatedMaxTimeLag", "Cluster Name", var.msk_cluster_name, "Consumer Group", g, "Topic", t]]
        }
      },
    ]
  })
}
