CREATE TABLE `dataset_access` (
	`dataset_id` text PRIMARY KEY NOT NULL,
	`read_groups` text DEFAULT '[]' NOT NULL,
	`write_groups` text DEFAULT '[]' NOT NULL,
	`read_users` text DEFAULT '[]' NOT NULL,
	`write_users` text DEFAULT '[]' NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `monitor_components` (
	`seq` integer PRIMARY KEY NOT NULL,
	`name` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `monitor_components_name_unique` ON `monitor_components` (`name`);--> statement-breakpoint
CREATE TABLE `monitor_contexts` (
	`seq` integer PRIMARY KEY NOT NULL,
	`h` text NOT NULL,
	`cpu_count` integer NOT NULL,
	`cpu_frequency` integer NOT NULL,
	`cpu_type` text NOT NULL,
	`cpu_vendor` text NOT NULL,
	`ram_total` integer NOT NULL,
	`machine_node` text NOT NULL,
	`machine_type` text NOT NULL,
	`machine_arch` text NOT NULL,
	`system_info` text NOT NULL,
	`python_info` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `monitor_contexts_h` ON `monitor_contexts` (`h`);--> statement-breakpoint
CREATE TABLE `monitor_counters` (
	`name` text PRIMARY KEY NOT NULL,
	`n` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE `monitor_metrics` (
	`seq` integer PRIMARY KEY NOT NULL,
	`session_h` text NOT NULL,
	`context_h` text NOT NULL,
	`item_start_time` text NOT NULL,
	`item_path` text NOT NULL,
	`item` text NOT NULL,
	`item_variant` text NOT NULL,
	`item_fs_loc` text NOT NULL,
	`kind` text NOT NULL,
	`component` text NOT NULL,
	`total_time` real NOT NULL,
	`user_time` real NOT NULL,
	`kernel_time` real NOT NULL,
	`cpu_usage` real NOT NULL,
	`mem_usage` real NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `monitor_metrics_key` ON `monitor_metrics` (`session_h`,`item_start_time`,`item_path`,`item_variant`,`kind`);--> statement-breakpoint
CREATE INDEX `monitor_metrics_session` ON `monitor_metrics` (`session_h`);--> statement-breakpoint
CREATE INDEX `monitor_metrics_context` ON `monitor_metrics` (`context_h`);--> statement-breakpoint
CREATE INDEX `monitor_metrics_item` ON `monitor_metrics` (`item`);--> statement-breakpoint
CREATE INDEX `monitor_metrics_variant` ON `monitor_metrics` (`item_variant`);--> statement-breakpoint
CREATE INDEX `monitor_metrics_kind` ON `monitor_metrics` (`kind`);--> statement-breakpoint
CREATE INDEX `monitor_metrics_component_item` ON `monitor_metrics` (`component`,`item`);--> statement-breakpoint
CREATE INDEX `monitor_metrics_component_variant` ON `monitor_metrics` (`component`,`item_variant`);--> statement-breakpoint
CREATE INDEX `monitor_metrics_total_time` ON `monitor_metrics` (`total_time`);--> statement-breakpoint
CREATE INDEX `monitor_metrics_user_time` ON `monitor_metrics` (`user_time`);--> statement-breakpoint
CREATE INDEX `monitor_metrics_kernel_time` ON `monitor_metrics` (`kernel_time`);--> statement-breakpoint
CREATE INDEX `monitor_metrics_cpu_usage` ON `monitor_metrics` (`cpu_usage`);--> statement-breakpoint
CREATE INDEX `monitor_metrics_mem_usage` ON `monitor_metrics` (`mem_usage`);--> statement-breakpoint
CREATE TABLE `monitor_session_flags` (
	`session_seq` integer NOT NULL,
	`name` text NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `monitor_session_flags_pk` ON `monitor_session_flags` (`name`,`value`,`session_seq`);--> statement-breakpoint
CREATE TABLE `monitor_sessions` (
	`seq` integer PRIMARY KEY NOT NULL,
	`session_h` text NOT NULL,
	`run_date` text NOT NULL,
	`scm_ref` text,
	`description` text NOT NULL,
	`pipeline_branch` text,
	`pipeline_build_no` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `monitor_sessions_h` ON `monitor_sessions` (`session_h`);--> statement-breakpoint
CREATE INDEX `monitor_sessions_scm` ON `monitor_sessions` (`scm_ref`);--> statement-breakpoint
CREATE INDEX `monitor_sessions_pipeline` ON `monitor_sessions` (`pipeline_branch`,`pipeline_build_no`);--> statement-breakpoint
CREATE TABLE `tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`token_hash` text NOT NULL,
	`user` text NOT NULL,
	`role` text NOT NULL,
	`projects` text DEFAULT '[]' NOT NULL,
	`groups` text DEFAULT '[]' NOT NULL,
	`created_at` text NOT NULL,
	`revoked_at` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_token_hash_unique` ON `tokens` (`token_hash`);