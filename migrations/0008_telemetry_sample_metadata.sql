CREATE TABLE `telemetry_sample_metadata` (
	`key` text NOT NULL,
	`kind` text NOT NULL,
	`value` blob NOT NULL,
	`timestamp` integer NOT NULL,
	`seq` integer NOT NULL,
	PRIMARY KEY(`key`, `kind`, `value`, `timestamp`, `seq`)
);
