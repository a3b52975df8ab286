CREATE TABLE `daemon_abnormal_tags` (
	`repname` text NOT NULL,
	`itemname` text NOT NULL,
	`tagname` text NOT NULL,
	`daemon_id` text NOT NULL,
	`since` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `daemon_abnormal_tags_key` ON `daemon_abnormal_tags` (`repname`,`itemname`,`tagname`,`daemon_id`);--> statement-breakpoint
CREATE TABLE `daemons` (
	`user` text PRIMARY KEY NOT NULL,
	`daemon_id` text NOT NULL,
	`status` text DEFAULT 'offline' NOT NULL,
	`status_changed_at` text,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `daemons_daemon_id` ON `daemons` (`daemon_id`);--> statement-breakpoint
CREATE INDEX `daemons_status` ON `daemons` (`status`);