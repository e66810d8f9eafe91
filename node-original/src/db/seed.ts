// `npm run db:seed -- FILE.sql`: apply the migrations, then run the file in one transaction.
import { readFileSync } from 'fs';
import { databaseConfig } from '../config';
import { openDatabase } from './index';

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: npm run db:seed -- FILE.sql\n');
    process.exit(2);
  }
  const { url, settings } = databaseConfig();
  const sql = readFileSync(file, 'utf8');
  let db;
  try {
    db = await openDatabase(url, settings);
    await db.script(sql);
  } catch (error) {
    process.stderr.write(`${file} failed; nothing was applied: ${(error as Error).message}\n`);
    process.exitCode = 1;
    return;
  } finally {
    await db?.close();
  }
  // Not the URL itself: it may carry a password.
  process.stdout.write(`seeded the database from ${file}\n`);
}

void main();
