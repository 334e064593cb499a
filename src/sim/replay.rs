//! Real charging sessions read from CSV, for `ocpi-hub simulate --replay FILE`.
//!
//! Reads the formats of `../shared/data/`: Dundee City Council (`CP ID`, `Connector`, dates
//! `DD/MM/YYYY` and times `HH:MM` in separate columns, `Total kWh`), Perth & Kinross (the same
//! columns with ISO dates, or with underscores in the headers, a byte-order mark and
//! `YYYY/MM/DD 00:00:00` dates) and the Norwegian residential set (`;`-separated, decimal
//! commas, `Garage_ID` as the charge point, `Start_plugin` / `End_plugout` as `DD.MM.YYYY HH:MM`,
//! `El_kWh`, no connector: the lowest connector free at the time is used). Columns are found
//! by name, so other files with the same headers work too. Rows without an end or an energy
//! (sessions still open at export), with the end before the start, or overlapping another
//! session on the same connector are skipped and counted.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// One session to replay; times as in the file (read as UTC).
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    pub charge_point: String,
    pub connector: u32,
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    pub wh: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// In start order.
    pub sessions: Vec<Replayed>,
    pub skipped: usize,
}

fn norm(h: &str) -> String {
    h.trim_start_matches('\u{feff}')
        .trim()
        .to_ascii_lowercase()
        .replace('_', " ")
}

/// Split one CSV line (quotes with doubled quotes inside).
fn split(line: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            c if c == sep && !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn date(s: &str) -> Option<NaiveDate> {
    let d = s.trim().get(..10)?;
    ["%d/%m/%Y", "%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(d, f).ok())
}

fn time(s: &str) -> Option<NaiveTime> {
    let t = s.trim();
    NaiveTime::parse_from_str(t, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M"))
        .ok()
}

/// A date column plus an optional time column, or one `DATE TIME` column.
fn moment(date_col: &str, time_col: Option<&str>) -> Option<NaiveDateTime> {
    let d = date(date_col)?;
    let t = match time_col {
        Some(t) => time(t)?,
        None => time(date_col.trim().get(10..)?.trim())?,
    };
    Some(d.and_time(t))
}

fn number(s: &str) -> Option<f64> {
    s.trim()
        .replace(',', ".")
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

/// Parse a whole file's text; `limit` keeps the first sessions in start order.
pub fn parse(text: &str, limit: Option<usize>) -> Result<Loaded, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().ok_or("the file is empty")?;
    let sep = if header.contains(';') { ';' } else { ',' };
    let cols: Vec<String> = split(header, sep).iter().map(|h| norm(h)).collect();
    let find = |names: &[&str]| cols.iter().position(|c| names.contains(&c.as_str()));
    let cp = find(&["cp id", "garage id"]).ok_or("no `CP ID` or `Garage_ID` column")?;
    let connector = find(&["connector"]);
    let start_date = find(&["start date", "start plugin"]).ok_or("no start date column")?;
    let start_time = find(&["start time"]);
    let end_date = find(&["end date", "end plugout"]).ok_or("no end date column")?;
    let end_time = find(&["end time"]);
    let kwh = find(&["total kwh", "el kwh"]).ok_or("no `Total kWh` or `El_kWh` column")?;
    let mut rows = Vec::new();
    let mut skipped = 0;
    for line in lines {
        let f = split(line, sep);
        let get = |i: usize| f.get(i).map(String::as_str).unwrap_or("");
        let at = |d: usize, t: Option<usize>| moment(get(d), t.map(get));
        let parsed = (|| {
            let id = get(cp).trim();
            if id.is_empty() {
                return None;
            }
            let start = at(start_date, start_time)?;
            let end = at(end_date, end_time)?;
            let kwh = number(get(kwh))?;
            if end <= start || kwh < 0.0 {
                return None;
            }
            let conn = match connector {
                Some(c) => Some(get(c).trim().parse::<u32>().ok().filter(|c| *c > 0)?),
                None => None,
            };
            Some((id.to_string(), conn, start, end, kwh))
        })();
        match parsed {
            Some(r) => rows.push(r),
            None => skipped += 1,
        }
    }
    rows.sort_by(|a, b| a.2.cmp(&b.2).then(a.0.cmp(&b.0)));
    // When each connector of a charge point is free again.
    let mut busy: HashMap<(String, u32), NaiveDateTime> = HashMap::new();
    let mut sessions = Vec::new();
    for (id, conn, start, end, kwh) in rows {
        if limit.is_some_and(|l| sessions.len() >= l) {
            break;
        }
        let free = |c: u32| {
            busy.get(&(id.clone(), c))
                .is_none_or(|until| *until <= start)
        };
        let connector = match conn {
            Some(c) if free(c) => c,
            Some(_) => {
                skipped += 1;
                continue;
            }
            None => (1..).find(|c| free(*c)).unwrap_or(1),
        };
        busy.insert((id.clone(), connector), end);
        sessions.push(Replayed {
            charge_point: id,
            connector,
            start,
            end,
            wh: kwh * 1000.0,
        });
    }
    Ok(Loaded { sessions, skipped })
}

pub fn load(path: &std::path::Path, limit: Option<usize>) -> Result<Loaded, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&String::from_utf8_lossy(&bytes), limit).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn reads_each_format_of_the_shared_datasets() {
        let dundee = "Charging event,CP ID,Connector,Start Date,Start Time,End Date,End Time,Total kWh,Cost,Site,Group,Model\n\
            4256786,51356,1,02/03/2018,23:50,03/03/2018,14:16,19.99,0,\"Gellatly Street, Dundee\",APT,APT 7kW\n\
            7312556,50230,2,05/06/2018,11:11,,,,,\"Marchbanks, Dundee\",APT,APT 7kW\n";
        let l = parse(dundee, None).unwrap();
        assert_eq!(l.skipped, 1);
        assert_eq!(
            l.sessions,
            vec![Replayed {
                charge_point: "51356".into(),
                connector: 1,
                start: at("2018-03-02 23:50"),
                end: at("2018-03-03 14:16"),
                wh: 19990.0,
            }]
        );
        let perth_iso = "_id,CP ID,Connector,Start Date,Start Time,End Date,End Time,Total kWh,Site,Model\n\
            1,51519,2,2018-08-31T00:00:00,22:48,2018-08-31T00:00:00,22:58,2.78,\"Broxden, Perth\",APT\n";
        let l = parse(perth_iso, None).unwrap();
        assert_eq!(l.sessions[0].start, at("2018-08-31 22:48"));
        assert_eq!(l.sessions[0].connector, 2);
        let perth_old = "\u{feff}_id,CP_ID,Connector,Start_Date,Start_Time,End_Date,End_Time,Total_kWh,Site,Model,OBJECTID\n\
            1,51519,2,2017/08/31 00:00:00,22:12:00,2017/08/31 00:00:00,23:11:00,18.27,\"Broxden, Perth\",APT,0\n";
        let l = parse(perth_old, None).unwrap();
        assert_eq!(l.sessions[0].end, at("2017-08-31 23:11"));
        assert!((l.sessions[0].wh - 18270.0).abs() < 1e-6);
        let norway = "session_ID;Garage_ID;User_ID;User_type;Shared_ID;Start_plugin;Start_plugin_hour;End_plugout;End_plugout_hour;El_kWh;Duration_hours\n\
            1;AdO3;AdO3-4;Private;NA;21.12.2018 10:20;10;21.12.2018 10:23;10;0,3;0,05\n\
            2;AdO3;AdO3-2;Private;NA;21.12.2018 10:21;10;21.12.2018 12:32;12;7,5;2,2\n\
            3;AdO3;AdO3-4;Private;NA;21.12.2018 10:30;10;21.12.2018 10:40;10;1,0;0,1\n";
        let l = parse(norway, None).unwrap();
        // No connector column: overlapping sessions of one garage get the lowest free one.
        let conns: Vec<u32> = l.sessions.iter().map(|s| s.connector).collect();
        assert_eq!(conns, vec![1, 2, 1]);
        assert!((l.sessions[0].wh - 300.0).abs() < 1e-6);
        assert_eq!(parse(norway, Some(2)).unwrap().sessions.len(), 2);
    }

    #[test]
    fn overlaps_on_one_connector_and_bad_rows_are_skipped() {
        let text = "CP ID,Connector,Start Date,Start Time,End Date,End Time,Total kWh\n\
            A,1,01/01/2018,10:00,01/01/2018,12:00,10\n\
            A,1,01/01/2018,11:00,01/01/2018,13:00,10\n\
            A,1,01/01/2018,14:00,01/01/2018,13:00,10\n\
            A,0,01/01/2018,14:00,01/01/2018,15:00,10\n\
            A,1,01/01/2018,12:00,01/01/2018,15:00,-1\n";
        let l = parse(text, None).unwrap();
        assert_eq!((l.sessions.len(), l.skipped), (1, 4));
        assert!(parse("Foo,Bar\n1,2\n", None).is_err());
    }

    #[test]
    fn the_shared_files_load() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
        if !dir.is_dir() {
            return;
        }
        for (file, min) in [
            ("dundee/cp-data-dec-mar-2018.csv", 10_000),
            (
                "perth-kinross/EV_ChargeStation_Use_Sept_2016_to_Aug_2017.csv",
                10_000,
            ),
            (
                "norway-residential/Dataset 1_EV charging reports.csv",
                6_000,
            ),
        ] {
            let l = load(&dir.join(file), None).unwrap();
            assert!(
                l.sessions.len() >= min,
                "{file}: {} sessions",
                l.sessions.len()
            );
            assert!(l.sessions.windows(2).all(|w| w[0].start <= w[1].start));
        }
    }
}
