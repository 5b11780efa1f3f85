//! PostgreSQL type OIDs and what clients need to know about each type.
//!
//! Clients decide how to parse a column from its type OID (RowDescription), so
//! these numbers must be PostgreSQL's own. `PgType` carries a column's OID and
//! type modifier from the catalog or the query plan to the wire.

use duetdb_storage::DataType;

pub const BOOL: u32 = 16;
pub const BYTEA: u32 = 17;
pub const CHAR: u32 = 18;
pub const NAME: u32 = 19;
pub const INT8: u32 = 20;
pub const INT2: u32 = 21;
pub const INT2VECTOR: u32 = 22;
pub const INT4: u32 = 23;
pub const REGPROC: u32 = 24;
pub const TEXT: u32 = 25;
pub const OID: u32 = 26;
pub const XID: u32 = 28;
pub const OIDVECTOR: u32 = 30;
pub const JSON: u32 = 114;
pub const FLOAT4: u32 = 700;
pub const FLOAT8: u32 = 701;
pub const UNKNOWN: u32 = 705;
pub const BPCHAR: u32 = 1042;
pub const VARCHAR: u32 = 1043;
pub const DATE: u32 = 1082;
pub const TIME: u32 = 1083;
pub const TIMESTAMP: u32 = 1114;
pub const TIMESTAMPTZ: u32 = 1184;
pub const INTERVAL: u32 = 1186;
pub const NUMERIC: u32 = 1700;
pub const REGCLASS: u32 = 2205;
pub const REGTYPE: u32 = 2206;
pub const RECORD: u32 = 2249;
pub const VOID: u32 = 2278;
pub const UUID: u32 = 2950;
pub const PG_LSN: u32 = 3220;
pub const JSONB: u32 = 3802;
pub const REGNAMESPACE: u32 = 4089;
pub const ANYARRAY: u32 = 2277;

/// (oid, name, typlen, array oid, category) for every type we know by OID.
pub const TYPES: &[(u32, &str, i16, u32, char)] = &[
    (BOOL, "bool", 1, 1000, 'B'),
    (BYTEA, "bytea", -1, 1001, 'U'),
    (CHAR, "char", 1, 1002, 'Z'),
    (NAME, "name", 64, 1003, 'S'),
    (INT8, "int8", 8, 1016, 'N'),
    (INT2, "int2", 2, 1005, 'N'),
    (INT2VECTOR, "int2vector", -1, 1006, 'A'),
    (INT4, "int4", 4, 1007, 'N'),
    (REGPROC, "regproc", 4, 1008, 'N'),
    (TEXT, "text", -1, 1009, 'S'),
    (OID, "oid", 4, 1028, 'N'),
    (XID, "xid", 4, 1011, 'U'),
    (OIDVECTOR, "oidvector", -1, 1013, 'A'),
    (JSON, "json", -1, 199, 'U'),
    (FLOAT4, "float4", 4, 1021, 'N'),
    (FLOAT8, "float8", 8, 1022, 'N'),
    (UNKNOWN, "unknown", -2, 0, 'X'),
    (BPCHAR, "bpchar", -1, 1014, 'S'),
    (VARCHAR, "varchar", -1, 1015, 'S'),
    (DATE, "date", 4, 1182, 'D'),
    (TIME, "time", 8, 1183, 'D'),
    (TIMESTAMP, "timestamp", 8, 1115, 'D'),
    (TIMESTAMPTZ, "timestamptz", 8, 1185, 'D'),
    (INTERVAL, "interval", 16, 1187, 'T'),
    (NUMERIC, "numeric", -1, 1231, 'N'),
    (REGCLASS, "regclass", 4, 2210, 'N'),
    (REGTYPE, "regtype", 4, 2211, 'N'),
    (RECORD, "record", -1, 2287, 'P'),
    (VOID, "void", 4, 0, 'P'),
    (UUID, "uuid", 16, 2951, 'U'),
    (PG_LSN, "pg_lsn", 8, 3221, 'U'),
    (JSONB, "jsonb", -1, 3807, 'U'),
    (REGNAMESPACE, "regnamespace", 4, 4090, 'N'),
    (ANYARRAY, "anyarray", -1, 0, 'P'),
];

pub fn type_name(oid: u32) -> Option<&'static str> {
    TYPES.iter().find(|t| t.0 == oid).map(|t| t.1).or_else(|| {
        element_of(oid).and_then(|e| {
            TYPES.iter().find(|t| t.0 == e).map(|t| match t.1 {
                "bool" => "_bool",
                "bytea" => "_bytea",
                "int2" => "_int2",
                "int4" => "_int4",
                "int8" => "_int8",
                "text" => "_text",
                "varchar" => "_varchar",
                "bpchar" => "_bpchar",
                "float4" => "_float4",
                "float8" => "_float8",
                "numeric" => "_numeric",
                "date" => "_date",
                "timestamp" => "_timestamp",
                "timestamptz" => "_timestamptz",
                "uuid" => "_uuid",
                "jsonb" => "_jsonb",
                "json" => "_json",
                "oid" => "_oid",
                "name" => "_name",
                "char" => "_char",
                _ => "_unknown",
            })
        })
    })
}

pub fn type_len(oid: u32) -> i16 {
    TYPES.iter().find(|t| t.0 == oid).map(|t| t.2).unwrap_or(-1)
}

pub fn array_of(elem: u32) -> Option<u32> {
    TYPES.iter().find(|t| t.0 == elem).map(|t| t.3).filter(|&a| a != 0)
}

pub fn element_of(array: u32) -> Option<u32> {
    TYPES.iter().find(|t| t.3 == array && t.3 != 0).map(|t| t.0)
}

/// A column's PostgreSQL type as the wire shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PgType {
    pub oid: u32,
    pub typmod: i32,
}

impl PgType {
    pub const fn new(oid: u32) -> PgType {
        PgType { oid, typmod: -1 }
    }

    pub fn of(ty: &DataType) -> PgType {
        PgType { oid: ty.pg_oid(), typmod: ty.pg_typmod() }
    }
}

/// Resolves a type name as SQL writes it (`int`, `character varying`, `_int4`,
/// `int4[]`, `varchar(10)`, `numeric(10,2)[]`…) to an OID, for casts,
/// parameter types and regtype values; a type modifier names no other type.
pub fn oid_for_name(name: &str) -> Option<u32> {
    let n = name.trim().to_ascii_lowercase();
    let n = match (n.find('('), n.rfind(')')) {
        (Some(open), Some(close)) if open < close => format!("{}{}", n[..open].trim_end(), &n[close + 1..]),
        _ => n,
    };
    let n = n.trim_start_matches("pg_catalog.");
    if let Some(elem) = n.strip_suffix("[]") {
        return oid_for_name(elem).and_then(array_of);
    }
    Some(match n {
        "bool" | "boolean" => BOOL,
        "bytea" => BYTEA,
        "\"char\"" | "char" => CHAR,
        "name" => NAME,
        "int8" | "bigint" => INT8,
        "int2" | "smallint" => INT2,
        "int4" | "int" | "integer" => INT4,
        "text" => TEXT,
        "oid" => OID,
        "json" => JSON,
        "float4" | "real" => FLOAT4,
        "float8" | "double precision" | "float" => FLOAT8,
        "bpchar" | "character" => BPCHAR,
        "varchar" | "character varying" => VARCHAR,
        "date" => DATE,
        "time" | "time without time zone" => TIME,
        "timestamp" | "timestamp without time zone" => TIMESTAMP,
        "timestamptz" | "timestamp with time zone" => TIMESTAMPTZ,
        "interval" => INTERVAL,
        "numeric" | "decimal" => NUMERIC,
        "regclass" => REGCLASS,
        "regtype" => REGTYPE,
        "uuid" => UUID,
        "jsonb" => JSONB,
        "pg_lsn" => PG_LSN,
        "regnamespace" => REGNAMESPACE,
        _ => TYPES.iter().find(|t| t.1 == n).map(|t| t.0)?,
    })
}
