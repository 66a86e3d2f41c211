import './robustness.test.js';
setInterval(() => console.log('ACTIVE', JSON.stringify(process.getActiveResourcesInfo())), 3000).unref();
