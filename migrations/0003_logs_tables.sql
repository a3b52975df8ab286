CREATE TABLE `logs` (
	`seq` integer PRIMARY KEY NOT NULL,
	`log_id` text NOT NULL,
	`name` text,
	`dataset_id` text,
	`task_id` text,
	`ts_us` integer NOT NULL,
	`timestamp` text NOT NULL,
	`extra` text DEFAULT '{}' NOT NULL,
	`data` text,
	`in_r2` integer DEFAULT false NOT NULL,
	`body_bytes` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `logs_log_id` ON `logs` (`log_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `logs_timestamp` ON `logs` (`timestamp`);--> statement-breakpoint
CREATE INDEX `logs_dataset_task_time` ON `logs` (`dataset_id`,`task_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `logs_dataset_time` ON `logs` (`dataset_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `logs_task_time` ON `logs` (`task_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `logs_name_time` ON `logs` (`name`,`timestamp`);