// What this browser keeps, in IndexedDB (one database per origin): the
// cluster's receipt key pinned on first use, and per user the device key
// (a non-extractable CryptoKey: stored, never readable) with the wallet
// instance and the highest receipt version seen, pinned as niomon client
// pins them in its key file.

const dbName = 'niomon';
const storeName = 'state';

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(dbName, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(storeName);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function tx(mode, fn) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const t = db.transaction(storeName, mode);
      const req = fn(t.objectStore(storeName));
      t.oncomplete = () => resolve(req && req.result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error || new Error('storage aborted'));
    });
  } finally {
    db.close();
  }
}

export const get = (key) => tx('readonly', (s) => s.get(key));
export const put = (key, value) => tx('readwrite', (s) => s.put(value, key));
export const del = (key) => tx('readwrite', (s) => s.delete(key));

// The keys of the state store.
export const clusterKey = 'cluster';
export const deviceKey = (userID) => `device:${userID}`;
