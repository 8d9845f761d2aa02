//! The migrations are written once for both dialects (`INT64`, `BYTES` and `/*sqlite: ...*/` /
//! `/*postgres: ...*/` rendered per backend): after migrating, SQLite and PostgreSQL must hold the same
//! tables, columns (same kind of type, same nullability), primary keys and indexes.

use std::collections::BTreeMap;
use store::{DatabaseUrl, Db, Store};

/// Table → its columns (name, type kind, not null), primary key columns, and indexes (name, unique).
type Schema = BTreeMap<String, (Vec<(String, &'static str, bool)>, Vec<String>, Vec<(String, bool)>)>;

fn kind(declared: &str) -> &'static str {
    let t = declared.to_ascii_lowercase();
    match () {
        _ if t.contains("int") => "integer",
        _ if t.contains("char") || t.contains("text") => "text",
        _ if t.contains("blob") || t.contains("bytea") => "bytes",
        _ => "other",
    }
}

fn sqlite_schema(db: &Db) -> Schema {
    db.with(|c| {
        let mut schema = Schema::new();
        let tables = c.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name", &[])?;
        for t in tables {
            let table = t.text("name")?;
            let mut columns = Vec::new();
            let mut key: Vec<(i64, String)> = Vec::new();
            for col in c.query(&format!("SELECT name, type, \"notnull\", pk FROM pragma_table_info('{table}')"), &[])? {
                let name = col.text("name")?;
                let pk = col.int("pk")?;
                if pk > 0 {
                    key.push((pk, name.clone()));
                }
                // SQLite lets a primary-key column be NULL unless declared otherwise; PostgreSQL never.
                columns.push((name, kind(&col.text("type")?), col.int("notnull")? == 1 || pk > 0));
            }
            key.sort();
            let mut indexes = Vec::new();
            for i in c.query(&format!("SELECT name, \"unique\", origin FROM pragma_index_list('{table}')"), &[])? {
                // Automatic indexes (for UNIQUE and PRIMARY KEY constraints) are named by SQLite.
                let name = i.text("name")?;
                if i.text("origin")? == "c" {
                    indexes.push((name, i.int("unique")? == 1));
                }
            }
            indexes.sort();
            schema.insert(table, (columns, key.into_iter().map(|(_, n)| n).collect(), indexes));
        }
        Ok(schema)
    })
    .unwrap()
}

fn postgres_schema(db: &Db) -> Schema {
    db.with(|c| {
        let mut schema = Schema::new();
        let tables = c.query("SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1", &[])?;
        for t in tables {
            let table = t.text("name")?;
            let mut columns = Vec::new();
            let cols = c.query(
                "SELECT column_name::text AS name, data_type::text AS type, CASE WHEN is_nullable = 'NO' THEN 1 ELSE 0 END::int8 AS notnull FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                store::params![table.clone()],
            )?;
            for col in cols {
                columns.push((col.text("name")?, kind(&col.text("type")?), col.int("notnull")? == 1));
            }
            let key = c.query(
                "SELECT a.attname::text AS name FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = (quote_ident(current_schema()) || '.' || quote_ident($1))::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)",
                store::params![table.clone()],
            )?;
            let key = key.iter().map(|r| r.text("name")).collect::<store::Result<Vec<_>>>()?;
            // Indexes made by CREATE INDEX, not by a constraint.
            let rows = c.query(
                "SELECT ic.relname::text AS name, CASE WHEN i.indisunique THEN 1 ELSE 0 END::int8 AS uniq FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = (quote_ident(current_schema()) || '.' || quote_ident($1))::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) ORDER BY 1",
                store::params![table.clone()],
            )?;
            let mut indexes = rows.iter().map(|r| Ok((r.text("name")?, r.int("uniq")? == 1))).collect::<store::Result<Vec<_>>>()?;
            indexes.sort();
            schema.insert(table, (columns, key, indexes));
        }
        Ok(schema)
    })
    .unwrap()
}

#[test]
fn sqlite_and_postgresql_migrate_to_the_same_schema() {
    let Some(base) = std::env::var("QIANBAO_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("QIANBAO_TEST_DATABASE_URL not set: the schema comparison needs PostgreSQL; skipped");
        return;
    };
    let dir = std::env::temp_dir().join(format!("qianbao_schema_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = DatabaseUrl::Sqlite(dir.join("schema.db"));
    Store::open(&sqlite).unwrap();
    let name = format!("t_schema_{}", std::process::id());
    let mut client = postgres::Client::connect(&base, postgres::NoTls).unwrap();
    client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}")).unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let pg = DatabaseUrl::Postgres(format!("{base}{sep}options=-csearch_path%3D{name}"));
    Store::open(&pg).unwrap();

    let (lite, post) = (sqlite_schema(&Db::open(&sqlite, 1).unwrap()), postgres_schema(&Db::open(&pg, 1).unwrap()));
    let _ = std::fs::remove_dir_all(&dir);
    client.batch_execute(&format!("DROP SCHEMA {name} CASCADE")).unwrap();
    assert!(lite.len() > 20, "every table is there: {:?}", lite.keys());
    let indexes: usize = lite.values().map(|(_, _, i)| i.len()).sum();
    assert!(indexes > 10, "the indexes are compared too ({indexes})");
    assert_eq!(lite.keys().collect::<Vec<_>>(), post.keys().collect::<Vec<_>>(), "the same tables");
    for (table, (columns, key, indexes)) in &lite {
        let (pg_columns, pg_key, pg_indexes) = &post[table];
        assert_eq!(columns, pg_columns, "columns of {table} (name, kind of type, not null)");
        assert_eq!(key, pg_key, "primary key of {table}");
        assert_eq!(indexes, pg_indexes, "indexes of {table}");
    }
}
