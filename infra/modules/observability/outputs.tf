output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies."
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  description = "Names of the alarms."
  value = concat(
    [aws_cloudwatch_metric_alarm.gateway_5xx.alarm_name, aws_cloudwatch_metric_alarm.gateway_errors.alarm_name, aws_cloudwatch_metric_alarm.cdc_slot_lag.alarm_name],
    aws_cloudwatch_metric_alarm.cdc_not_running[*].alarm_name,
    aws_cloudwatch_metric_alarm.cdc_lag[*].alarm_name,
    [for a in aws_cloudwatch_metric_alarm.consumer_lag : a.alarm_name],
  )
}

output "dashboard_name" {
  description = "CloudWatch dashboard name."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
