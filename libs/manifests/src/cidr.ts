export { cidrContains, formatCidr, parseCidr, type Cidr } from '@meshbus/core';
