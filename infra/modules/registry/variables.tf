variable "registry_name" {
  description = "Glue Schema Registry name (EB_REGISTRY_NAME)."
  type        = string
  default     = "travel-events"
  validation {
    condition     = can(regex("^[a-zA-Z0-9_$#.-]{1,255}$", var.registry_name))
    error_message = "registry_name may hold letters, digits and _ $ # . - (1-255 chars)."
  }
}

variable "catalog_path" {
  description = "Path of the topic catalog (schemas/topics.yaml); each topic names its Avro schema file."
  type        = string
}

variable "schemas_dir" {
  description = "Directory holding the `*.avsc` files the catalog refers to."
  type        = string
}

variable "compatibility" {
  description = "Compatibility mode of every schema."
  type        = string
  default     = "BACKWARD"
  validation {
    condition     = contains(["NONE", "DISABLED", "BACKWARD", "BACKWARD_ALL", "FORWARD", "FORWARD_ALL", "FULL", "FULL_ALL"], var.compatibility)
    error_message = "compatibility must be a Glue compatibility mode, e.g. BACKWARD."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
