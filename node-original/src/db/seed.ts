// `npm run db:seed -- FILE.sql`: apply the migrations, then run the file in one transaction.
import { readFileSync } from 'fs';
import { openDatabase } from './index';

function main(): void {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: npm run db:seed -- FILE.sql\n');
    process.exit(2);
  }
  const url = process.env.DATABASE_URL || 'sqlite://realtime.db';
  const db = openDatabase(url.replace(/^sqlite:\/\//, '').replace(/^sqlite:/, ''));
  const sql = readFileSync(file, 'utf8');
  try {
    db.transaction(() => db.exec(sql))();
  } catch (error) {
    process.stderr.write(`${file} failed; nothing was applied: ${(error as Error).message}\n`);
    process.exit(1);
  } finally {
    db.close();
  }
  process.stdout.write(`seeded ${url} from ${file}\n`);
}

main();
