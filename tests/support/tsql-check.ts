/**
 * The forms of SQL that SQL Server 2016 refuses and that bit this project, checked in generated
 * statements. No T-SQL grammar that installs here parses real T-SQL (README "SQL Server"), so
 * this is a list of known mistakes, not a parser: it cannot prove a statement valid.
 */
export function tsqlProblems(sql: string): string[] {
  const problems: string[] = [];
  const flat = sql.replace(/'(?:[^']|'')*'/g, "''"); // string literals cannot hold the forms below
  // EXEC(...) takes only string literals and variables, joined by +; a function call inside is a compile error.
  for (const m of flat.matchAll(/\bEXEC(?:UTE)?\s*\(([^()]*(?:\([^()]*\)[^()]*)*)\)/gi)) {
    const parts = m[1]!.split('+').map((p) => p.trim());
    if (!parts.every((p) => /^N?''$/.test(p) || /^@\w+$/.test(p))) problems.push(`EXEC(...) holds more than literals and variables: ${m[0]}`);
  }
  // A temporal column or CAST type without its precision is DATETIME2(7) / DATETIMEOFFSET(7); DATETIME is 1/300 s.
  if (/\bdatetime\b(?!2|offset)/i.test(flat)) problems.push('DATETIME (rounds to 1/300 s): use DATETIME2(3) or DATETIMEOFFSET(3)');
  if (/\b(?:create|alter)\b[\s\S]*\b(datetime2|datetimeoffset)\b(?!\s*\(\s*3\s*\))/i.test(flat)) problems.push('a timestamp column without precision 3');
  if (/\blimit\s+(\?|\d|@)/i.test(flat)) problems.push('LIMIT is not T-SQL: TOP (n)');
  if (/::|`|\bilike\b|\bnulls\s+(first|last)\b|\breturning\b|\|\|/i.test(flat)) problems.push('PostgreSQL / SQLite syntax');
  if (/"/.test(flat)) problems.push('double-quoted identifier (depends on QUOTED_IDENTIFIER): use [brackets]');
  if (/\b(true|false)\b/i.test(flat.replace(/\[[^\]]*\]/g, '[]'))) problems.push('TRUE / FALSE literals are not T-SQL');
  if (/\bCREATE\s+\w+\s+IF\s+NOT\s+EXISTS\b/i.test(flat)) problems.push('CREATE … IF NOT EXISTS is not T-SQL');
  return problems;
}
