import type { Db } from '../db';

export interface User {
  id: string;
  email: string;
  role: 'admin' | 'user';
  status: string;
}

/** Case-insensitive, as on the Rust server: the upstream schema stores `ADMIN`/`USER`. */
export function normaliseRole(stored: string): 'admin' | 'user' {
  return stored.toLowerCase() === 'admin' ? 'admin' : 'user';
}

export function createUserService(db: Db) {
  return {
    async findById(id: string): Promise<User | undefined> {
      const row = await db.get<User & { role: string }>('SELECT id, email, role, status FROM users WHERE id = ?', [id]);
      return row && { ...row, role: normaliseRole(row.role) };
    },
  };
}

export type UserService = ReturnType<typeof createUserService>;
