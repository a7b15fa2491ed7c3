//! `clinical-sites import --rejects FILE`: the refused rows as they were in the input, each with
//! why it was refused, read again from the input (so nothing of the rows is held meanwhile).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use serde_json::{Value, json};

use super::read::Format;
use crate::error::RowProblem;

/// Writes the rows of `problems` of `input` (in `format`) to `output`, each with its problems (a
/// CSV gains an `errors` column, an NDJSON object an `errors` member); how many were written.
pub fn write(input: &Path, format: Format, problems: &[RowProblem], output: &Path) -> Result<usize, String> {
    let by_row: HashMap<u64, &RowProblem> = problems.iter().map(|problem| (problem.row, problem)).collect();
    let read = std::fs::File::open(input).map_err(|error| format!("cannot open {}: {error}", input.display()))?;
    let written =
        std::fs::File::create(output).map_err(|error| format!("cannot create {}: {error}", output.display()))?;
    let failed = |error: &dyn std::fmt::Display| format!("cannot write {}: {error}", output.display());
    let mut count = 0;
    match format {
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(read);
            let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(written);
            let mut header = reader.headers().map_err(|e| failed(&e))?.clone();
            header.push_field("errors");
            writer.write_record(&header).map_err(|e| failed(&e))?;
            for record in reader.records() {
                let Ok(mut record) = record else { continue };
                let row = record.position().map_or(0, csv::Position::line);
                if let Some(problem) = by_row.get(&row) {
                    record.push_field(&describe(problem));
                    writer.write_record(&record).map_err(|e| failed(&e))?;
                    count += 1;
                }
            }
            writer.flush().map_err(|e| failed(&e))?;
        }
        Format::Ndjson => {
            let mut writer = BufWriter::new(written);
            for (index, line) in BufReader::new(read).split(b'\n').enumerate() {
                let line = line.map_err(|e| failed(&e))?;
                let Some(problem) = by_row.get(&(index as u64 + 1)) else {
                    continue;
                };
                let errors = serde_json::to_value(&problem.errors).unwrap_or(Value::Null);
                let text = String::from_utf8_lossy(&line);
                let out = match serde_json::from_str::<Value>(text.trim()) {
                    Ok(Value::Object(mut object)) => {
                        object.insert("errors".to_owned(), errors);
                        Value::Object(object)
                    }
                    _ => json!({"row": problem.row, "line": text.trim(), "errors": errors}),
                };
                writeln!(writer, "{out}").map_err(|e| failed(&e))?;
                count += 1;
            }
            writer.flush().map_err(|e| failed(&e))?;
        }
    }
    Ok(count)
}

/// A row's problems as one line of text: `field: message; ...`.
fn describe(problem: &RowProblem) -> String {
    problem
        .errors
        .iter()
        .map(|error| {
            if error.field.is_empty() {
                error.message.clone()
            } else {
                format!("{}: {}", error.field, error.message)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}
