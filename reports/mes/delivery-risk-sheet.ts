/**
 * The Delivery risk sheet of the daily workbook and its email line: every open production order
 * of the MES with its good units so far, the product's recent rate and the good quantity that
 * rate reaches by the due date; at-risk orders first. Pure but for the workbook writer.
 */
import type ExcelJS from 'exceljs';
import type { OrderRisk } from '../../etl/mes/delivery-risk.js';
import { escapeHtml } from '../daily-yield-email.js';
import { writeTable, type StreamBook } from '../xlsx-stream-parts.js';

interface Column {
  header: string;
  meaning: string;
  value: (r: OrderRisk) => ExcelJS.CellValue;
  numFmt?: string;
}

const UNITS = '#,##0.0';

export const DELIVERY_RISK_COLUMNS: readonly Column[] = [
  { header: 'Order', meaning: 'the MES production order (mes_orders)', value: (r) => r.orderId },
  { header: 'Product', meaning: 'the material the order makes: the product of the summaries', value: (r) => r.product },
  { header: 'Status', meaning: 'the order status as the MES gave it (only mes.openStatuses are listed)', value: (r) => r.status },
  { header: 'Quantity', meaning: 'good units the order asks for', value: (r) => r.quantity, numFmt: '#,##0' },
  { header: 'Start', meaning: 'the order\'s scheduled start: its days begin here', value: (r) => r.startDate },
  { header: 'Due date', meaning: 'the order\'s due date', value: (r) => r.dueDate },
  { header: 'Good so far', meaning: 'Σ load_qty × rolled cumulative yield of the product (summary_prod) over the order\'s days up to the report\'s day', value: (r) => r.goodSoFar, numFmt: UNITS },
  { header: 'Rate per day', meaning: 'the product\'s good units per day over the rate window (mes.rateWindowDays production days ending with the day; days without production count 0)', value: (r) => r.ratePerDay, numFmt: UNITS },
  { header: 'Days left', meaning: 'days after the report\'s day (or from the start, if later) up to the due date', value: (r) => r.daysLeft, numFmt: '0' },
  { header: 'Projected at due', meaning: 'good so far + rate per day × days left', value: (r) => r.projectedGood, numFmt: UNITS },
  { header: 'Shortfall', meaning: 'quantity − projected at due, when positive', value: (r) => r.shortfall, numFmt: UNITS },
  { header: 'At risk', meaning: 'yes: the projection falls short of the quantity', value: (r) => (r.atRisk ? 'yes' : 'no') },
];

export interface DeliveryRiskData {
  day: string;
  rows: readonly OrderRisk[];
  rateWindowDays: number;
  /** Set when the rows were computed for the report from the orders last pulled (the exchange had not run for the day). */
  computedFromOrdersPulledAt?: string;
}

export function addDeliveryRiskSheet(book: StreamBook, data: DeliveryRiskData): ExcelJS.Worksheet {
  const ws = book.wb.addWorksheet('Delivery risk');
  [14, 20, 12, 10, 12, 12, 12, 12, 10, 14, 12, 9].forEach((w, i) => (ws.getColumn(i + 1).width = w));
  const atRisk = data.rows.filter((r) => r.atRisk).length;
  ws.getCell(1, 1).value = `Delivery risk on ${data.day}: ${atRisk} of ${data.rows.length} open order(s) at risk (rate over the last ${data.rateWindowDays} production day(s))`;
  ws.getCell(1, 1).font = { bold: true, size: 12 };
  if (data.computedFromOrdersPulledAt) ws.getCell(2, 1).value = `The MES exchange has not run for the day: computed from the orders pulled at ${data.computedFromOrdersPulledAt}.`;
  const top = 3;
  writeTable(book, ws, { name: 'DeliveryRisk', headers: DELIVERY_RISK_COLUMNS.map((c) => c.header), rows: data.rows.map((r) => DELIVERY_RISK_COLUMNS.map((c) => c.value(r))), at: { row: top, col: 1 } });
  DELIVERY_RISK_COLUMNS.forEach((c, i) => {
    if (c.numFmt) for (let r = 0; r < data.rows.length; r++) ws.getCell(top + 1 + r, i + 1).numFmt = c.numFmt;
  });
  data.rows.forEach((r, i) => {
    if (r.atRisk) ws.getCell(top + 1 + i, DELIVERY_RISK_COLUMNS.length).font = { bold: true, color: { argb: 'FF9C0006' } };
  });
  ws.commit();
  return ws;
}

const P = 'font-family:Arial,Helvetica,sans-serif;font-size:13px;margin:0 0 6px 0;';
const units = (v: number) => (Math.round(v * 10) / 10).toLocaleString('en-US', { maximumFractionDigits: 1 });

/** The email line, or null when no open order is at risk. */
export function deliveryRiskParagraph(data: DeliveryRiskData): { text: string; html: string } | null {
  const late = data.rows.filter((r) => r.atRisk);
  if (late.length === 0) return null;
  const listed = late.slice(0, 5).map((r) => `${r.orderId} (${r.product}, due ${r.dueDate}: ${units(r.projectedGood)} of ${r.quantity} projected)`);
  const more = late.length > listed.length ? `, and ${late.length - listed.length} more` : '';
  const line = `Delivery risk: ${late.length} of ${data.rows.length} open order(s) may miss their due date: ${listed.join(', ')}${more}. See the Delivery risk sheet.`;
  return { text: line, html: `<p style="${P}">${escapeHtml(line)}</p>` };
}
