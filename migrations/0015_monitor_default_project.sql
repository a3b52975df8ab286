-- The project the monitor rows stored before projects existed belong to: every existing
-- row has project_id 0 (the column's default, added in place: no table was rebuilt, no row
-- moved) and a rowid in 1..N, inside project 0's range (src/db/schema.ts).
INSERT OR IGNORE INTO `monitor_projects` (`id`, `name`) VALUES (0, 'default');
