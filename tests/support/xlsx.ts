/**
 * Writes sheets through the streaming workbook writer the reports use, and reads the file back
 * with exceljs' reader, so a test sees what Excel would open.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { streamParts, type StreamBook } from '../../reports/xlsx-stream-parts.js';

export async function writeAndReadBack(build: (book: StreamBook) => unknown): Promise<ExcelJS.Workbook> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-xlsx-'));
  try {
    const file = path.join(dir, 'book.xlsx');
    const wb = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: file, useStyles: true, useSharedStrings: false });
    const book = { wb, parts: streamParts(wb) };
    await build(book);
    await wb.commit();
    const back = new ExcelJS.Workbook();
    await back.xlsx.readFile(file);
    return back;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
