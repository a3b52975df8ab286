CREATE TABLE `monitor_projects` (
	`id` integer PRIMARY KEY NOT NULL,
	`name` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `monitor_projects_name_unique` ON `monitor_projects` (`name`);--> statement-breakpoint
DROP INDEX `monitor_builds_key`;--> statement-breakpoint
ALTER TABLE `monitor_builds` ADD `project_id` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `monitor_builds_project_key` ON `monitor_builds` (`project_id`,`branch`,`build_no`);--> statement-breakpoint
CREATE INDEX `monitor_builds_project_branch` ON `monitor_builds` (`project_id`,`branch`);--> statement-breakpoint
DROP INDEX `monitor_components_name_unique`;--> statement-breakpoint
ALTER TABLE `monitor_components` ADD `project_id` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `monitor_components_project_name` ON `monitor_components` (`project_id`,`name`);--> statement-breakpoint
DROP INDEX `monitor_contexts_h`;--> statement-breakpoint
ALTER TABLE `monitor_contexts` ADD `project_id` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `monitor_contexts_project_h` ON `monitor_contexts` (`project_id`,`h`);--> statement-breakpoint
DROP INDEX `monitor_metrics_key`;--> statement-breakpoint
DROP INDEX `monitor_metrics_session`;--> statement-breakpoint
DROP INDEX `monitor_metrics_component_item`;--> statement-breakpoint
DROP INDEX `monitor_metrics_component_variant`;--> statement-breakpoint
DROP INDEX `monitor_metrics_total_time`;--> statement-breakpoint
DROP INDEX `monitor_metrics_user_time`;--> statement-breakpoint
DROP INDEX `monitor_metrics_kernel_time`;--> statement-breakpoint
DROP INDEX `monitor_metrics_cpu_usage`;--> statement-breakpoint
DROP INDEX `monitor_metrics_mem_usage`;--> statement-breakpoint
DROP INDEX `monitor_metrics_kind`;--> statement-breakpoint
ALTER TABLE `monitor_metrics` ADD `project_id` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `monitor_metrics_project_key` ON `monitor_metrics` (`project_id`,`session_h`,`item_start_time`,`item_path`,`item_variant`,`kind`);--> statement-breakpoint
CREATE INDEX `monitor_metrics_kind` ON `monitor_metrics` (`kind`) WHERE kind <> 'function';--> statement-breakpoint
DROP INDEX `monitor_pipelines_branch_unique`;--> statement-breakpoint
ALTER TABLE `monitor_pipelines` ADD `project_id` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `monitor_pipelines_project_branch` ON `monitor_pipelines` (`project_id`,`branch`);--> statement-breakpoint
DROP INDEX `monitor_sessions_h`;--> statement-breakpoint
DROP INDEX `monitor_sessions_scm`;--> statement-breakpoint
DROP INDEX `monitor_sessions_pipeline`;--> statement-breakpoint
ALTER TABLE `monitor_sessions` ADD `project_id` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `monitor_sessions_project_h` ON `monitor_sessions` (`project_id`,`session_h`);--> statement-breakpoint
CREATE INDEX `monitor_sessions_project_scm` ON `monitor_sessions` (`project_id`,`scm_ref`);--> statement-breakpoint
CREATE INDEX `monitor_sessions_project_pipeline` ON `monitor_sessions` (`project_id`,`pipeline_branch`,`pipeline_build_no`);