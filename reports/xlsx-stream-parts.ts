/**
 * Excel Tables and pictures for exceljs' streaming writer (WorkbookWriter).
 *
 * exceljs 4.4 writes tables and images only from its in-memory Workbook, which holds every cell of a
 * sheet in memory (gigabytes for a million-row sheet). Its streaming writer writes rows as they come
 * but has no table or drawing parts. Both are small, separate parts of the package that Excel reads
 * by relationship, so they are added here at the two points where the streaming writer finishes a
 * sheet and the package: the sheet's closing elements (`<drawing>`, `<tableParts>`), and
 * [Content_Types].xml (rendered by exceljs' own ContentTypesXform, which knows both kinds).
 *
 * This touches exceljs internals (the sheet's relationship writer and two of its `_write…` steps), so
 * exceljs is pinned to 4.4.x in package.json; tests/integration/report-workbook.test.ts reads the
 * parts back with exceljs' reader and fails if a future version moves them.
 */
import { createRequire } from 'node:module';
import type ExcelJS from 'exceljs';

const require = createRequire(import.meta.url);
const ContentTypesXform = require('exceljs/lib/xlsx/xform/core/content-types-xform.js') as new () => { toXml(model: unknown): string };

const REL = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
const MAIN = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main';
const EMU_PER_PX = 9525;

interface WorkbookInternals {
  zip: { append(data: string, opts: { name: string }): void };
  media: { type: string; extension: string; name: string }[];
  _worksheets: unknown[];
  sharedStrings: unknown;
  commentRefs: unknown[];
  addContentTypes(): Promise<void>;
  getImage(id: number): { name: string; extension: string } | undefined;
}

interface WorksheetInternals {
  id: number;
  committed: boolean;
  stream: { write(s: string): void };
  _sheetRelsWriter: { addRelationship(rel: { Type: string; Target: string }): string };
  _writeLegacyData(): void;
  _writeCloseWorksheet(): void;
}

export interface StreamTable {
  /** Unique in the workbook; letters, digits, underscores. */
  name: string;
  headers: readonly string[];
  /** Row of the header (1-based) and first column (1-based). */
  topRow: number;
  leftCol: number;
  /** e.g. TableStyleMedium2; banded rows are on. */
  style: string;
  /** Data rows below the header; set it before the sheet is committed. */
  dataRows: number;
}

export interface StreamPicture {
  /** From WorkbookWriter.addImage. */
  imageId: number;
  /** Top-left cell, 0-based. */
  col: number;
  row: number;
  /** Displayed size in pixels (a 2× PNG shown at half its pixel size stays sharp). */
  widthPx: number;
  heightPx: number;
  name: string;
  description: string;
}

export interface StreamParts {
  addTable(ws: ExcelJS.Worksheet, table: Omit<StreamTable, 'dataRows' | 'style'> & { style?: string }): StreamTable;
  addPictures(ws: ExcelJS.Worksheet, pictures: readonly StreamPicture[]): void;
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function columnLetter(n: number): string {
  let s = '';
  for (let x = n; x > 0; x = Math.floor((x - 1) / 26)) s = String.fromCharCode(65 + ((x - 1) % 26)) + s;
  return s;
}

/** The table's range; a table needs one data row, so an empty one gets a blank row. */
export function tableRef(t: StreamTable): string {
  const last = t.topRow + Math.max(1, t.dataRows);
  return `${columnLetter(t.leftCol)}${t.topRow}:${columnLetter(t.leftCol + t.headers.length - 1)}${last}`;
}

function tableXml(t: StreamTable, id: number): string {
  const ref = tableRef(t);
  const cols = t.headers.map((h, i) => `<tableColumn id="${i + 1}" name="${xml(h)}"/>`).join('');
  return (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' +
    `<table xmlns="${MAIN}" id="${id}" name="${xml(t.name)}" displayName="${xml(t.name)}" ref="${ref}" totalsRowShown="0">` +
    `<autoFilter ref="${ref}"/>` +
    `<tableColumns count="${t.headers.length}">${cols}</tableColumns>` +
    `<tableStyleInfo name="${xml(t.style)}" showFirstColumn="0" showLastColumn="0" showRowStripes="1" showColumnStripes="0"/>` +
    '</table>'
  );
}

function drawingXml(pictures: readonly StreamPicture[], rIds: readonly string[]): string {
  const anchors = pictures.map((p, i) => {
    const cx = Math.round(p.widthPx * EMU_PER_PX);
    const cy = Math.round(p.heightPx * EMU_PER_PX);
    return (
      '<xdr:oneCellAnchor>' +
      `<xdr:from><xdr:col>${p.col}</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>${p.row}</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:from>` +
      `<xdr:ext cx="${cx}" cy="${cy}"/>` +
      '<xdr:pic>' +
      `<xdr:nvPicPr><xdr:cNvPr id="${i + 2}" name="${xml(p.name)}" descr="${xml(p.description)}"/><xdr:cNvPicPr><a:picLocks noChangeAspect="1"/></xdr:cNvPicPr></xdr:nvPicPr>` +
      `<xdr:blipFill><a:blip r:embed="${rIds[i]}"/><a:stretch><a:fillRect/></a:stretch></xdr:blipFill>` +
      `<xdr:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="${cx}" cy="${cy}"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></xdr:spPr>` +
      '</xdr:pic><xdr:clientData/></xdr:oneCellAnchor>'
    );
  });
  return (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' +
    '<xdr:wsDr xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing" ' +
    `xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:r="${REL}">` +
    anchors.join('') +
    '</xdr:wsDr>'
  );
}

function relsXml(rels: readonly { id: string; type: string; target: string }[]): string {
  return (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' +
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
    rels.map((r) => `<Relationship Id="${r.id}" Type="${REL}/${r.type}" Target="${xml(r.target)}"/>`).join('') +
    '</Relationships>'
  );
}

/** Adds table and picture support to one streaming workbook. Call before adding any sheet. */
export function streamParts(workbook: ExcelJS.stream.xlsx.WorkbookWriter): StreamParts {
  const wb = workbook as unknown as WorkbookInternals;
  const tableTargets: { target: string }[] = [];
  const drawingNames: { name: string }[] = [];
  const perSheet = new Map<WorksheetInternals, { tables: StreamTable[]; pictures: StreamPicture[] }>();

  wb.addContentTypes = async () => {
    const model = {
      worksheets: wb._worksheets.filter(Boolean),
      sharedStrings: wb.sharedStrings,
      commentRefs: wb.commentRefs,
      media: wb.media,
      tables: tableTargets,
      drawings: drawingNames,
    };
    wb.zip.append(new ContentTypesXform().toXml(model), { name: '[Content_Types].xml' });
  };

  const sheetState = (worksheet: ExcelJS.Worksheet) => {
    const ws = worksheet as unknown as WorksheetInternals;
    if (ws.committed) throw new Error('tables and pictures must be added before the sheet is committed');
    let state = perSheet.get(ws);
    if (state) return state;
    const s = { tables: [] as StreamTable[], pictures: [] as StreamPicture[] };
    perSheet.set(ws, s);
    state = s;

    // <drawing> goes before <legacyDrawing> in CT_Worksheet, <tableParts> last but for extLst.
    const writeLegacy = ws._writeLegacyData.bind(ws);
    ws._writeLegacyData = () => {
      if (s.pictures.length) {
        const n = drawingNames.length + 1;
        const name = `drawing${n}`;
        drawingNames.push({ name });
        const rIds = s.pictures.map((_, i) => `rId${i + 1}`);
        const images = s.pictures.map((p) => {
          const img = wb.getImage(p.imageId);
          if (!img) throw new Error(`no image with id ${p.imageId} in this workbook`);
          return img;
        });
        wb.zip.append(drawingXml(s.pictures, rIds), { name: `xl/drawings/${name}.xml` });
        wb.zip.append(relsXml(images.map((img, i) => ({ id: rIds[i]!, type: 'image', target: `../media/${img.name}` }))), {
          name: `xl/drawings/_rels/${name}.xml.rels`,
        });
        const rId = ws._sheetRelsWriter.addRelationship({ Type: `${REL}/drawing`, Target: `../drawings/${name}.xml` });
        ws.stream.write(`<drawing r:id="${rId}"/>`);
      }
      writeLegacy();
    };
    const writeClose = ws._writeCloseWorksheet.bind(ws);
    ws._writeCloseWorksheet = () => {
      if (s.tables.length) {
        const parts = s.tables.map((t) => {
          const id = tableTargets.length + 1;
          const target = `table${id}.xml`;
          tableTargets.push({ target });
          wb.zip.append(tableXml(t, id), { name: `xl/tables/${target}` });
          return ws._sheetRelsWriter.addRelationship({ Type: `${REL}/table`, Target: `../tables/${target}` });
        });
        ws.stream.write(`<tableParts count="${parts.length}">${parts.map((id) => `<tablePart r:id="${id}"/>`).join('')}</tableParts>`);
      }
      writeClose();
    };
    return state;
  };

  return {
    addTable(ws, table) {
      if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(table.name)) throw new Error(`invalid table name '${table.name}'`);
      if (new Set(table.headers).size !== table.headers.length) throw new Error(`table ${table.name}: headers must be unique`);
      const t: StreamTable = { style: 'TableStyleMedium2', ...table, dataRows: 0 };
      sheetState(ws).tables.push(t);
      return t;
    },
    addPictures(ws, pictures) {
      sheetState(ws).pictures.push(...pictures);
    },
  };
}

/** A streaming workbook with its table and picture support: what a sheet writer is handed. */
export interface StreamBook {
  wb: ExcelJS.stream.xlsx.WorkbookWriter;
  parts: StreamParts;
}

/** A PNG to place on a sheet: its bytes and the size to show it at, in CSS pixels. */
export interface SheetPicture {
  buffer: Buffer;
  width: number;
  height: number;
}

/**
 * Writes a header row and its data rows from `at` (1-based) down, as cell values of a sheet not yet
 * committed, and makes them an Excel Table (banded rows, a filter button on every header).
 */
export function writeTable(
  book: StreamBook,
  ws: ExcelJS.Worksheet,
  t: { name: string; headers: readonly string[]; rows: readonly (readonly ExcelJS.CellValue[])[]; style?: string; at?: { row: number; col: number } },
): StreamTable {
  const top = t.at?.row ?? 1;
  const left = t.at?.col ?? 1;
  const header = ws.getRow(top);
  t.headers.forEach((h, i) => (header.getCell(left + i).value = h));
  t.rows.forEach((values, r) => {
    const row = ws.getRow(top + 1 + r);
    values.forEach((v, i) => (row.getCell(left + i).value = v));
  });
  const table = book.parts.addTable(ws, { name: t.name, headers: t.headers, topRow: top, leftCol: left, ...(t.style ? { style: t.style } : {}) });
  table.dataRows = t.rows.length;
  return table;
}

/** Places a PNG with its top-left corner at a cell (0-based column and row). */
export function addPicture(book: StreamBook, ws: ExcelJS.Worksheet, png: SheetPicture, at: { col: number; row: number }, name: string, description: string): void {
  const imageId = book.wb.addImage({ buffer: png.buffer as unknown as ExcelJS.Buffer, extension: 'png' });
  book.parts.addPictures(ws, [{ imageId, col: at.col, row: at.row, widthPx: png.width, heightPx: png.height, name, description }]);
}

/** A column of a titled sheet table: its header, its meaning (the Definitions sheet), its cell value and number format. */
export interface SheetColumn<T> {
  header: string;
  meaning: string;
  value: (r: T) => ExcelJS.CellValue;
  numFmt?: string;
}

/**
 * A bold title at row `top`, then the rows as an Excel Table below it ("none on the day" when
 * there are none); returns the row after it and a blank row.
 */
export function titledTable<T>(book: StreamBook, ws: ExcelJS.Worksheet, top: number, title: string, name: string, cols: readonly SheetColumn<T>[], rows: readonly T[]): number {
  ws.getCell(top, 1).value = title;
  ws.getCell(top, 1).font = { bold: true, size: 12 };
  if (rows.length === 0) {
    ws.getCell(top + 1, 1).value = 'none on the day';
    return top + 3;
  }
  writeTable(book, ws, { name, headers: cols.map((c) => c.header), rows: rows.map((r) => cols.map((c) => c.value(r))), at: { row: top + 1, col: 1 } });
  cols.forEach((c, i) => {
    if (c.numFmt) for (let r = 0; r < rows.length; r++) ws.getCell(top + 2 + r, i + 1).numFmt = c.numFmt;
  });
  return top + rows.length + 3;
}
